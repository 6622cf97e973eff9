package clients

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/genproto/googleapis/type/expr"
)

// Small objects go out as one multipart request; both read paths (XML, the default, and JSON) answer them.
func TestSimpleUpload(t *testing.T) {
	e := emu(t)
	b := e.bucket(t, true)
	c := e.admin(t)
	data := []byte("hello, emulator")
	attrs := mustWrite(t, c, b, "dir/hello.txt", data)
	if attrs.Size != int64(len(data)) || attrs.Generation == 0 {
		t.Fatalf("attrs: %+v", attrs)
	}
	for _, client := range []*storage.Client{c, e.client(t, e.adminToken, storage.WithJSONReads())} {
		got, err := read(t, client, b, "dir/hello.txt", 0, -1)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back: %q, %v", got, err)
		}
	}
}

// Above the chunk size the writer uses a resumable upload and POSTs each chunk to the session URI, asking for
// 200 + X-HTTP-Status-Code-Override: 308 instead of a bare 308 (issue 9).
func TestResumableUploadAboveChunkSize(t *testing.T) {
	e := emu(t)
	b := e.bucket(t, true)
	c := e.admin(t)
	for _, tc := range []struct {
		name      string
		size      int
		chunkSize int
	}{
		{"small-chunks", 5*256*1024 + 123, 256 * 1024},
		{"default-16MiB-chunks", 16*1024*1024 + 1, 0 /* NewWriter's default */},
	} {
		data := pattern(tc.size)
		w := c.Bucket(b).Object(tc.name).NewWriter(ctx(t))
		if tc.chunkSize > 0 {
			w.ChunkSize = tc.chunkSize
		}
		if _, err := w.Write(data); err != nil {
			t.Fatalf("%s: write: %v", tc.name, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("%s: close: %v", tc.name, err)
		}
		if w.Attrs().Size != int64(tc.size) {
			t.Fatalf("%s: size %d, want %d", tc.name, w.Attrs().Size, tc.size)
		}
		got, err := read(t, c, b, tc.name, 0, -1)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: read back %d bytes, %v", tc.name, len(got), err)
		}
	}
}

// The default reader uses the XML API (GET/HEAD /BUCKET/OBJECT); WithJSONReads uses alt=media. Both honour ranges.
func TestRangedReads(t *testing.T) {
	e := emu(t)
	b := e.bucket(t, true)
	data := pattern(1000)
	mustWrite(t, e.admin(t), b, "r", data)
	for _, mode := range []struct {
		name   string
		client *storage.Client
	}{{"xml", e.admin(t)}, {"json", e.client(t, e.adminToken, storage.WithJSONReads())}} {
		cases := []struct {
			off, n   int64
			from, to int
		}{{10, 20, 10, 30}, {990, -1, 990, 1000}, {-5, -1, 995, 1000}, {0, -1, 0, 1000}}
		for _, tc := range cases {
			got, err := read(t, mode.client, b, "r", tc.off, tc.n)
			if err != nil || !bytes.Equal(got, data[tc.from:tc.to]) {
				t.Fatalf("%s: range %d+%d: %d bytes, %v", mode.name, tc.off, tc.n, len(got), err)
			}
		}
		// Length 0 is a HEAD on the XML API: the attributes without the content.
		r, err := mode.client.Bucket(b).Object("r").NewRangeReader(ctx(t), 0, 0)
		if err != nil {
			t.Fatalf("%s: zero-length read: %v", mode.name, err)
		}
		if r.Attrs.Size != 1000 || r.Attrs.Generation == 0 {
			t.Fatalf("%s: reader attrs %+v", mode.name, r.Attrs)
		}
		_ = r.Close()
		if _, err := read(t, mode.client, b, "missing", 0, -1); !errors.Is(err, storage.ErrObjectNotExist) {
			t.Fatalf("%s: a missing object: %v, want ErrObjectNotExist", mode.name, err)
		}
	}
}

func TestComposeAndRewrite(t *testing.T) {
	e := emu(t)
	b := e.bucket(t, true)
	c := e.admin(t)
	a1 := mustWrite(t, c, b, "part-1", []byte("abc"))
	mustWrite(t, c, b, "part-2", []byte("def"))
	bk := c.Bucket(b)
	// Sources pinned to a generation, and the destination must not exist yet.
	composed, err := bk.Object("whole").If(storage.Conditions{DoesNotExist: true}).
		ComposerFrom(bk.Object("part-1").Generation(a1.Generation), bk.Object("part-2")).Run(ctx(t))
	if err != nil || composed.Size != 6 {
		t.Fatalf("compose: %+v, %v", composed, err)
	}
	if _, err := bk.Object("whole").If(storage.Conditions{DoesNotExist: true}).
		ComposerFrom(bk.Object("part-1")).Run(ctx(t)); code(err) != 412 {
		t.Fatalf("compose over an existing object with DoesNotExist: %v, want 412", err)
	}
	if _, err := bk.Object("whole2").ComposerFrom(bk.Object("part-1").Generation(a1.Generation + 1)).Run(ctx(t)); code(err) != 404 {
		t.Fatalf("compose of a generation that is not live: %v, want 404", err)
	}
	copied, err := bk.Object("copy").CopierFrom(bk.Object("whole")).Run(ctx(t))
	if err != nil || copied.Size != 6 {
		t.Fatalf("rewrite: %+v, %v", copied, err)
	}
	got, err := read(t, c, b, "copy", 0, -1)
	if err != nil || string(got) != "abcdef" {
		t.Fatalf("read the copy: %q, %v", got, err)
	}
}

func TestPreconditions(t *testing.T) {
	e := emu(t)
	b := e.bucket(t, true)
	c := e.admin(t)
	first := mustWrite(t, c, b, "p", []byte("1"))
	obj := c.Bucket(b).Object("p")
	w := obj.If(storage.Conditions{GenerationMatch: first.Generation + 1}).NewWriter(ctx(t))
	_, _ = w.Write([]byte("2"))
	if err := w.Close(); code(err) != 412 {
		t.Fatalf("a write on a stale generation: %v, want 412", err)
	}
	w = obj.If(storage.Conditions{GenerationMatch: first.Generation}).NewWriter(ctx(t))
	_, _ = w.Write([]byte("2"))
	if err := w.Close(); err != nil {
		t.Fatalf("a write on the live generation: %v", err)
	}
	// A read pinned to the old generation: the XML reader sends x-goog-if-generation-match.
	if _, err := obj.If(storage.Conditions{GenerationMatch: first.Generation}).NewReader(ctx(t)); code(err) != 412 {
		t.Fatalf("an XML read with a stale generation precondition: %v, want 412", err)
	}
	if err := obj.If(storage.Conditions{MetagenerationMatch: 7}).Delete(ctx(t)); code(err) != 412 {
		t.Fatalf("a delete with a wrong metageneration: %v, want 412", err)
	}
}

func TestListPrefixAndDelimiter(t *testing.T) {
	e := emu(t)
	b := e.bucket(t, true)
	c := e.admin(t)
	for _, n := range []string{"a/1", "a/2", "a/sub/3", "b/4", "top"} {
		mustWrite(t, c, b, n, []byte(n))
	}
	var names, prefixes []string
	it := c.Bucket(b).Objects(ctx(t), &storage.Query{Prefix: "a/", Delimiter: "/"})
	for {
		o, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if o.Prefix != "" {
			prefixes = append(prefixes, o.Prefix)
		} else {
			names = append(names, o.Name)
		}
	}
	if strings.Join(names, ",") != "a/1,a/2" || strings.Join(prefixes, ",") != "a/sub/" {
		t.Fatalf("names %v, prefixes %v", names, prefixes)
	}
}

func prefixCondition(bucket, prefix string) *expr.Expr {
	return &expr.Expr{
		Title:      "prefix " + prefix,
		Expression: fmt.Sprintf(`resource.name.startsWith("projects/_/buckets/%s/objects/%s") || (resource.type == "storage.googleapis.com/Bucket" && api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("%s"))`, bucket, prefix, prefix),
	}
}

// Bucket IAM v3 with a prefix condition, then the principal is held to its prefix: one character outside, a
// neighbour, a list of the parent are 403 (and the XML reader says 403, not "object doesn't exist").
func TestBucketIAMHoldsPrincipalToPrefix(t *testing.T) {
	e := emu(t)
	b := e.bucket(t, true)
	admin := e.admin(t)
	member := "serviceAccount:job-a@" + e.project + ".iam.gserviceaccount.com"
	h := admin.Bucket(b).IAM().V3()
	p, err := h.Policy(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Bindings = append(p.Bindings, &iampb.Binding{
		Role: "roles/storage.objectUser", Members: []string{member}, Condition: prefixCondition(b, "ckpt/ns/job/"),
	})
	if err := h.SetPolicy(ctx(t), p); err != nil {
		t.Fatalf("SetPolicy: %v", err)
	}
	back, err := h.Policy(ctx(t))
	if err != nil || back.Bindings[len(back.Bindings)-1].GetCondition().GetTitle() != "prefix ckpt/ns/job/" {
		t.Fatalf("the policy read back: %+v, %v", back, err)
	}
	mustWrite(t, admin, b, "ckpt/ns/other/offsets/0", []byte("theirs"))

	for _, mode := range []struct {
		name   string
		client *storage.Client
	}{{"xml", e.client(t, e.token(t, member))}, {"json", e.client(t, e.token(t, member), storage.WithJSONReads())}} {
		c := mode.client
		if _, err := write(t, c, b, "ckpt/ns/job/offsets/0-"+mode.name, []byte("mine"), 0); err != nil {
			t.Fatalf("%s: write inside the prefix: %v", mode.name, err)
		}
		if got, err := read(t, c, b, "ckpt/ns/job/offsets/0-"+mode.name, 0, -1); err != nil || string(got) != "mine" {
			t.Fatalf("%s: read inside the prefix: %q, %v", mode.name, got, err)
		}
		if _, err := write(t, c, b, "ckpt/ns/jobx", []byte("x"), 0); code(err) != 403 {
			t.Fatalf("%s: one character outside: %v, want 403", mode.name, err)
		}
		if _, err := read(t, c, b, "ckpt/ns/other/offsets/0", 0, -1); code(err) != 403 {
			t.Fatalf("%s: reading a neighbour: %v, want 403", mode.name, err)
		}
		it := c.Bucket(b).Objects(ctx(t), &storage.Query{Prefix: "ckpt/ns/"})
		if _, err := it.Next(); code(err) != 403 {
			t.Fatalf("%s: listing the parent: %v, want 403", mode.name, err)
		}
		it = c.Bucket(b).Objects(ctx(t), &storage.Query{Prefix: "ckpt/ns/job/"})
		if _, err := it.Next(); err != nil {
			t.Fatalf("%s: listing its own prefix: %v", mode.name, err)
		}
	}
}

// Google answers a conditional binding on a bucket without uniform bucket-level access with 412 (issue 9).
func TestConditionalBindingNeedsUniformAccess(t *testing.T) {
	e := emu(t)
	b := e.bucket(t, false)
	h := e.admin(t).Bucket(b).IAM().V3()
	p, err := h.Policy(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Bindings = append(p.Bindings, &iampb.Binding{
		Role: "roles/storage.objectViewer", Members: []string{"user:a@example.com"}, Condition: prefixCondition(b, "x/"),
	})
	err = h.SetPolicy(ctx(t), p)
	if code(err) != 412 || !strings.Contains(err.Error(), "Uniform bucket-level access must be enabled") {
		t.Fatalf("SetPolicy: %v, want 412 naming uniform bucket-level access", err)
	}
}

// STORAGE_EMULATOR_HOST makes the client skip authentication: every call is anonymous, which this emulator
// refuses (401) like Google does for a private bucket.
func TestStorageEmulatorHostIsAnonymous(t *testing.T) {
	e := emu(t)
	b := e.bucket(t, true)
	t.Setenv("STORAGE_EMULATOR_HOST", e.url)
	c, err := storage.NewClient(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Bucket(b).Attrs(ctx(t)); code(err) != 401 {
		t.Fatalf("an anonymous call: %v, want 401", err)
	}
}

// The client has no managed-folder API over JSON (only the gRPC storage control client): the folder and its
// policy are made with the JSON API directly, and the principal is then held to it through the client.
func TestManagedFolderHoldsPrincipalToPrefix(t *testing.T) {
	e := emu(t)
	b := e.bucket(t, true)
	admin := e.admin(t)
	member := "serviceAccount:job-f@" + e.project + ".iam.gserviceaccount.com"
	folder := "ckpt/ns/job/"
	e.adminCall(t, "POST", "/storage/v1/b/"+b+"/managedFolders", map[string]string{"name": folder}, nil)
	e.adminCall(t, "PUT", "/storage/v1/b/"+b+"/managedFolders/"+url.PathEscape(folder)+"/iam", map[string]any{
		"bindings": []map[string]any{{"role": "roles/storage.objectUser", "members": []string{member}}},
	}, nil)
	mustWrite(t, admin, b, "ckpt/ns/other/offsets/0", []byte("theirs"))
	c := e.client(t, e.token(t, member))
	if _, err := write(t, c, b, folder+"offsets/0", pattern(3*256*1024+5), 256*1024); err != nil {
		t.Fatalf("a resumable write inside the folder: %v", err)
	}
	if _, err := read(t, c, b, folder+"offsets/0", 5, 10); err != nil {
		t.Fatalf("a ranged read inside the folder: %v", err)
	}
	if _, err := write(t, c, b, "ckpt/ns/jobx", []byte("x"), 0); code(err) != 403 {
		t.Fatalf("one character outside: %v, want 403", err)
	}
	if _, err := read(t, c, b, "ckpt/ns/other/offsets/0", 0, -1); code(err) != 403 {
		t.Fatalf("reading a neighbour: %v, want 403", err)
	}
	if _, err := c.Bucket(b).Objects(ctx(t), &storage.Query{Prefix: "ckpt/ns/"}).Next(); code(err) != 403 {
		t.Fatalf("listing the parent: %v, want 403", err)
	}
	if _, err := c.Bucket(b).Objects(ctx(t), &storage.Query{Prefix: folder}).Next(); err != nil {
		t.Fatalf("listing its own folder: %v", err)
	}
}
