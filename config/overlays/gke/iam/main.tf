# The controller's Google identity for Tidemark on GKE, as Terraform (the gcloud commands in ../README.md do the
# same). test/unit/manifests.test.ts holds the permission list to tidemark-controller-role.yaml.

variable "project_id" { type = string }
variable "checkpoint_buckets" { type = list(string) }

resource "google_project_iam_custom_role" "tidemark_controller" {
  project     = var.project_id
  role_id     = "tidemarkController"
  title       = "Tidemark controller"
  description = "Grant, read back and revoke per-job checkpoint access; scan and garbage-collect policy roots."
  permissions = [
    "storage.buckets.get",
    "storage.buckets.getIamPolicy",
    "storage.buckets.setIamPolicy",
    "storage.managedFolders.create",
    "storage.managedFolders.delete",
    "storage.managedFolders.getIamPolicy",
    "storage.managedFolders.list",
    "storage.managedFolders.setIamPolicy",
    "storage.objects.delete",
    "storage.objects.list",
  ]
}

resource "google_service_account" "tidemark_controller" {
  project      = var.project_id
  account_id   = "tidemark-controller"
  display_name = "Tidemark controller"
}

# Workload Identity: the Kubernetes service account tidemark-system/tidemark-controller acts as this account.
resource "google_service_account_iam_member" "tidemark_workload_identity" {
  service_account_id = google_service_account.tidemark_controller.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[tidemark-system/tidemark-controller]"
}

# On each checkpoint bucket only: never project-wide, never roles/storage.admin.
resource "google_storage_bucket_iam_member" "tidemark_controller" {
  for_each = toset(var.checkpoint_buckets)
  bucket   = each.value
  role     = google_project_iam_custom_role.tidemark_controller.name
  member   = "serviceAccount:${google_service_account.tidemark_controller.email}"
}
