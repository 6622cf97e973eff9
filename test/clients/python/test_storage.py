"""google-cloud-storage (pinned in requirements.txt) against the Tidemark GCS emulator.

Run by test/emulator/python-client.test.ts through run_tests.py, which starts the emulator and passes
TIDEMARK_GCS_ENDPOINT, TIDEMARK_EMULATOR_ADMIN_TOKEN and GOOGLE_CLOUD_PROJECT.
"""
import itertools
import os
import unittest
import urllib.parse

import requests
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth import exceptions as auth_exceptions
from google.cloud import storage
from google.oauth2.credentials import Credentials

URL = os.environ.get("TIDEMARK_GCS_ENDPOINT", "")
ADMIN = os.environ.get("TIDEMARK_EMULATOR_ADMIN_TOKEN", "")
PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "")
_seq = itertools.count(1)


def client(token):
    """The client acting with `token`: client_options' api_endpoint (which wins over STORAGE_EMULATOR_HOST) and
    explicit credentials, so every call carries the token."""
    return storage.Client(
        project=PROJECT,
        credentials=Credentials(token=token),
        client_options=ClientOptions(api_endpoint=URL),
    )


def admin_call(method, path, body=None):
    res = requests.request(
        method, URL + path, json=body, headers={"Authorization": "Bearer " + ADMIN}, timeout=30
    )
    if res.status_code // 100 != 2:
        raise AssertionError(f"{method} {path}: {res.status_code} {res.text}")
    return res.json() if res.content else None


def token(principal):
    return admin_call("POST", "/_emulator/tokens", {"principal": principal})["access_token"]


def new_bucket(admin, label, ubla=True):
    name = f"py-{label}-{next(_seq)}"
    bucket = admin.bucket(name)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = ubla
    admin.create_bucket(bucket)
    return admin.bucket(name)


def pattern(n):
    return (bytes(range(251)) * (n // 251 + 1))[:n]


def prefix_condition(bucket, prefix):
    return {
        "title": f"prefix {prefix}",
        "expression": (
            f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}") || '
            f'(resource.type == "storage.googleapis.com/Bucket" && '
            f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{prefix}"))'
        ),
    }


class StorageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not (URL and ADMIN and PROJECT):
            raise RuntimeError("TIDEMARK_GCS_ENDPOINT, TIDEMARK_EMULATOR_ADMIN_TOKEN and GOOGLE_CLOUD_PROJECT must be set")
        cls.admin = client(ADMIN)

    def test_simple_and_multipart_uploads(self):
        b = new_bucket(self.admin, "simple")
        blob = b.blob("dir/hello.txt")
        blob.metadata = {"k": "v"}
        blob.upload_from_string(b"hello", content_type="text/plain")  # multipart: metadata + media
        got = b.get_blob("dir/hello.txt")
        self.assertEqual(got.size, 5)
        self.assertEqual(got.content_type, "text/plain")
        self.assertEqual(got.metadata, {"k": "v"})
        self.assertEqual(got.download_as_bytes(), b"hello")

    def test_resumable_upload_above_the_chunk_size(self):
        # Above 8 MiB the client picks a resumable upload, sent in chunk_size pieces (PUT to the session URI).
        b = new_bucket(self.admin, "resumable")
        data = pattern(9 * 1024 * 1024 + 17)
        blob = b.blob("big", chunk_size=1024 * 1024)
        blob.upload_from_string(data)
        self.assertEqual(b.get_blob("big").size, len(data))
        self.assertEqual(b.blob("big").download_as_bytes(), data)

    def test_ranged_reads(self):
        b = new_bucket(self.admin, "ranges")
        data = pattern(1000)
        b.blob("r").upload_from_string(data)
        blob = b.blob("r")
        self.assertEqual(blob.download_as_bytes(start=10, end=29), data[10:30])
        self.assertEqual(blob.download_as_bytes(start=990), data[990:])
        self.assertEqual(blob.download_as_bytes(end=4), data[:5])

    def test_compose_sends_null_generations(self):
        # The client sends "generation": null for each source that has none: null is absent (issue 9).
        b = new_bucket(self.admin, "compose")
        b.blob("p1").upload_from_string(b"abc")
        b.blob("p2").upload_from_string(b"def")
        whole = b.blob("whole")
        whole.compose([b.blob("p1"), b.blob("p2")])
        self.assertEqual(whole.download_as_bytes(), b"abcdef")
        self.assertEqual(whole.component_count, 2)
        # With sources pinned (ifGenerationMatch per source) and a destination that must not exist.
        g1 = b.get_blob("p1").generation
        b.blob("again").compose([b.blob("p1"), b.blob("p2")], if_source_generation_match=[g1, None], if_generation_match=0)
        with self.assertRaises(exceptions.PreconditionFailed):
            b.blob("again").compose([b.blob("p1")], if_generation_match=0)
        with self.assertRaises(exceptions.PreconditionFailed):
            b.blob("third").compose([b.blob("p1")], if_source_generation_match=[g1 + 1])

    def test_rewrite_and_copy(self):
        b = new_bucket(self.admin, "rewrite")
        other = new_bucket(self.admin, "rewrite-dst")
        b.blob("src").upload_from_string(b"payload", content_type="text/plain")
        token_, done, total = other.blob("dst").rewrite(b.blob("src"))
        self.assertIsNone(token_)
        self.assertEqual((done, total), (7, 7))
        self.assertEqual(other.blob("dst").download_as_bytes(), b"payload")
        copied = b.copy_blob(b.blob("src"), other, "copy")
        self.assertEqual(copied.download_as_bytes(), b"payload")

    def test_preconditions(self):
        b = new_bucket(self.admin, "pre")
        blob = b.blob("p")
        blob.upload_from_string(b"1", if_generation_match=0)
        with self.assertRaises(exceptions.PreconditionFailed):
            b.blob("p").upload_from_string(b"2", if_generation_match=0)
        gen = b.get_blob("p").generation
        b.blob("p").upload_from_string(b"2", if_generation_match=gen)
        with self.assertRaises(exceptions.PreconditionFailed):
            b.blob("p").delete(if_generation_match=gen)
        with self.assertRaises(exceptions.PreconditionFailed):
            b.blob("p").download_as_bytes(if_metageneration_match=9)

    def test_list_with_prefix_and_delimiter(self):
        b = new_bucket(self.admin, "list")
        for n in ["a/1", "a/2", "a/sub/3", "b/4", "top"]:
            b.blob(n).upload_from_string(n.encode())
        it = self.admin.list_blobs(b.name, prefix="a/", delimiter="/")
        names = [x.name for x in it]
        self.assertEqual(names, ["a/1", "a/2"])
        self.assertEqual(sorted(it.prefixes), ["a/sub/"])
        self.assertEqual([x.name for x in self.admin.list_blobs(b.name, max_results=2)], ["a/1", "a/2"])

    def test_bucket_iam_holds_principal_to_prefix(self):
        b = new_bucket(self.admin, "iam")
        member = f"serviceAccount:job-a@{PROJECT}.iam.gserviceaccount.com"
        policy = b.get_iam_policy(requested_policy_version=3)
        policy.version = 3
        policy.bindings.append(
            {"role": "roles/storage.objectUser", "members": {member}, "condition": prefix_condition(b.name, "ckpt/ns/job/")}
        )
        b.set_iam_policy(policy)
        back = b.get_iam_policy(requested_policy_version=3)
        self.assertEqual(back.version, 3)
        self.assertIn(member, [m for x in back.bindings for m in x["members"]])
        b.blob("ckpt/ns/other/offsets/0").upload_from_string(b"theirs")
        self.assert_held_to(b.name, client(token(member)), "ckpt/ns/job/", "ckpt/ns/other/offsets/0")

    def test_managed_folder_holds_principal_to_prefix(self):
        # The client has no managed-folder API: the folder and its policy are made with the JSON API directly.
        b = new_bucket(self.admin, "folder")
        member = f"serviceAccount:job-f@{PROJECT}.iam.gserviceaccount.com"
        folder = "ckpt/ns/job/"
        admin_call("POST", f"/storage/v1/b/{b.name}/managedFolders", {"name": folder})
        admin_call(
            "PUT",
            f"/storage/v1/b/{b.name}/managedFolders/{urllib.parse.quote(folder, safe='')}/iam",
            {"bindings": [{"role": "roles/storage.objectUser", "members": [member]}]},
        )
        b.blob("ckpt/ns/other/offsets/0").upload_from_string(b"theirs")
        self.assert_held_to(b.name, client(token(member)), folder, "ckpt/ns/other/offsets/0")

    def assert_held_to(self, bucket_name, c, prefix, neighbour):
        b = c.bucket(bucket_name)
        b.blob(prefix + "offsets/0").upload_from_string(b"mine")
        big = b.blob(prefix + "state/big", chunk_size=256 * 1024)
        big.upload_from_string(pattern(9 * 1024 * 1024))  # resumable, as the principal
        self.assertEqual(b.blob(prefix + "offsets/0").download_as_bytes(), b"mine")
        self.assertEqual([x.name for x in c.list_blobs(bucket_name, prefix=prefix + "offsets/")], [prefix + "offsets/0"])
        with self.assertRaises(exceptions.Forbidden):
            b.blob(prefix.rstrip("/") + "x").upload_from_string(b"x")  # one character outside
        with self.assertRaises(exceptions.Forbidden):
            b.blob(neighbour).download_as_bytes()
        with self.assertRaises(exceptions.Forbidden):
            list(c.list_blobs(bucket_name, prefix=prefix.rstrip("/").rsplit("/", 1)[0] + "/"))  # the parent
        with self.assertRaises(exceptions.Forbidden):
            b.blob(neighbour).delete()

    def test_conditional_binding_needs_uniform_access(self):
        b = new_bucket(self.admin, "legacy", ubla=False)
        policy = b.get_iam_policy(requested_policy_version=3)
        policy.version = 3
        policy.bindings.append(
            {"role": "roles/storage.objectViewer", "members": {"user:a@example.com"}, "condition": prefix_condition(b.name, "x/")}
        )
        with self.assertRaises(exceptions.PreconditionFailed) as caught:
            b.set_iam_policy(policy)
        self.assertIn("Uniform bucket-level access must be enabled", str(caught.exception))

    def test_batch(self):
        b = new_bucket(self.admin, "batch")
        names = [f"ckpt/f{i}" for i in range(5)]
        for n in names:
            b.blob(n).upload_from_string(n.encode())
        with self.admin.batch():
            for n in names[:3]:
                b.blob(n).delete()
            b.blob(names[3]).patch()  # a metadata call in the same batch
        self.assertEqual([x.name for x in self.admin.list_blobs(b.name)], names[3:])
        # Per-part results: a principal that may not delete gets its 403 for that part.
        viewer = f"serviceAccount:viewer@{PROJECT}.iam.gserviceaccount.com"
        policy = b.get_iam_policy()
        policy.bindings.append({"role": "roles/storage.objectViewer", "members": {viewer}})
        b.set_iam_policy(policy)
        c = client(token(viewer))
        with self.assertRaises(exceptions.Forbidden):
            with c.batch():
                c.bucket(b.name).blob(names[4]).delete()
        self.assertIsNotNone(b.get_blob(names[4]))

    def test_storage_emulator_host_without_credentials_is_anonymous(self):
        old = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = URL
        try:
            anon = storage.Client(project=PROJECT)
            # The emulator answers 401; the client then tries to refresh its anonymous credentials and fails so.
            with self.assertRaisesRegex(auth_exceptions.InvalidOperation, "Anonymous credentials cannot be refreshed"):
                list(anon.list_buckets())
            # With explicit credentials the token is sent even with STORAGE_EMULATOR_HOST set.
            self.assertTrue(storage.Client(project=PROJECT, credentials=Credentials(token=ADMIN)).bucket("x").exists() is False)
        finally:
            if old is None:
                del os.environ["STORAGE_EMULATOR_HOST"]
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = old


if __name__ == "__main__":
    unittest.main()
