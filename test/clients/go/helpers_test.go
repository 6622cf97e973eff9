// Package clients runs cloud.google.com/go/storage against the Tidemark GCS emulator. It is built into a test
// binary by test/clients/toolchain.ts and run by test/emulator/go-client.test.ts, which starts the emulator and
// passes TIDEMARK_GCS_ENDPOINT, TIDEMARK_EMULATOR_ADMIN_TOKEN and GOOGLE_CLOUD_PROJECT.
package clients

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

type emulator struct {
	url, adminToken, project string
}

func emu(t *testing.T) emulator {
	t.Helper()
	e := emulator{
		url:        os.Getenv("TIDEMARK_GCS_ENDPOINT"),
		adminToken: os.Getenv("TIDEMARK_EMULATOR_ADMIN_TOKEN"),
		project:    os.Getenv("GOOGLE_CLOUD_PROJECT"),
	}
	if e.url == "" || e.adminToken == "" || e.project == "" {
		t.Fatal("TIDEMARK_GCS_ENDPOINT, TIDEMARK_EMULATOR_ADMIN_TOKEN and GOOGLE_CLOUD_PROJECT must be set")
	}
	return e
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// client is the Go client acting with token, pointed at the emulator the documented way: the JSON API endpoint
// with its /storage/v1/ path, and a token source (not STORAGE_EMULATOR_HOST, which makes every call anonymous).
// Extra options (storage.WithJSONReads()) are appended.
func (e emulator) client(t *testing.T, token string, extra ...option.ClientOption) *storage.Client {
	t.Helper()
	opts := append([]option.ClientOption{
		option.WithEndpoint(e.url + "/storage/v1/"),
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})),
	}, extra...)
	c, err := storage.NewClient(ctx(t), opts...)
	if err != nil {
		t.Fatalf("storage.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (e emulator) admin(t *testing.T) *storage.Client { return e.client(t, e.adminToken) }

// adminCall sends a JSON request with the admin token to one of the emulator's own or JSON API paths.
func (e emulator) adminCall(t *testing.T, method, path string, body any, out any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequestWithContext(ctx(t), method, e.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+e.adminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, buf.String())
	}
	if out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// token mints a bearer token for an IAM member (POST /_emulator/tokens).
func (e emulator) token(t *testing.T, principal string) string {
	t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	e.adminCall(t, "POST", "/_emulator/tokens", map[string]string{"principal": principal}, &out)
	return out.AccessToken
}

var (
	seq   atomic.Int64
	runID = time.Now().UnixNano() % 1_000_000_000
)

// bucket creates a fresh bucket as the admin, with or without uniform bucket-level access.
func (e emulator) bucket(t *testing.T, ubla bool) string {
	t.Helper()
	// Unique per run too (the process start time), so a second run against the same emulator finds no leftovers.
	suffix := fmt.Sprintf("-%d-%d", runID, seq.Add(1))
	name := "go-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if len(name)+len(suffix) > 63 {
		name = name[:63-len(suffix)]
	}
	name += suffix
	name = strings.Trim(name, "-_")
	attrs := &storage.BucketAttrs{UniformBucketLevelAccess: storage.UniformBucketLevelAccess{Enabled: ubla}}
	if err := e.admin(t).Bucket(name).Create(ctx(t), e.project, attrs); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

func write(t *testing.T, c *storage.Client, bucket, name string, data []byte, chunkSize int) (*storage.ObjectAttrs, error) {
	t.Helper()
	w := c.Bucket(bucket).Object(name).NewWriter(ctx(t))
	w.ChunkSize = chunkSize
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return w.Attrs(), nil
}

func mustWrite(t *testing.T, c *storage.Client, bucket, name string, data []byte) *storage.ObjectAttrs {
	t.Helper()
	a, err := write(t, c, bucket, name, data, 0)
	if err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	return a
}

func read(t *testing.T, c *storage.Client, bucket, name string, offset, length int64) ([]byte, error) {
	t.Helper()
	r, err := c.Bucket(bucket).Object(name).NewRangeReader(ctx(t), offset, length)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// code is the HTTP status of a client error (0 when it carries none).
func code(err error) int {
	var g *googleapi.Error
	if errors.As(err, &g) {
		return g.Code
	}
	return 0
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}
