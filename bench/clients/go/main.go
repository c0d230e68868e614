// The Go reference client for bench/run.mjs (issue 4 cites Go's net/http figures): one
// upload per process, as a Go user would write it. Built by the runner when `go` is on
// PATH (go build, standard library only) and measured like curl, under GNU time.
//
//	go-client upload    <url> <file>   PUT the file (net/http sends an *os.File body with sendfile)
//	go-client multipart <url> <file>   POST it as a multipart/form-data file part (mime/multipart
//	                                   through an io.Pipe: chunked, copied through user space)
//	go-client save      <url> <file>   GET the body into the file with io.Copy(file, resp.Body)
//	                                   (*os.File's ReadFrom; Go 1.21+ splices from a TCP socket)
//
// Prints the server's reply on stdout; exits 1 on any error or a status other than 2xx.
package main

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) != 4 {
		fail(fmt.Errorf("usage: go-client upload|multipart <url> <file>"))
	}
	mode, url, path := os.Args[1], os.Args[2], os.Args[3]
	if mode == "save" {
		save(url, path)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	var req *http.Request
	switch mode {
	case "upload":
		st, err := f.Stat()
		if err != nil {
			fail(err)
		}
		req, err = http.NewRequest("PUT", url, f)
		if err != nil {
			fail(err)
		}
		req.ContentLength = st.Size()
		req.Header.Set("Content-Type", "application/octet-stream")
	case "multipart":
		pr, pw := io.Pipe()
		form := multipart.NewWriter(pw)
		go func() {
			part, err := form.CreateFormFile("file", filepath.Base(path))
			if err == nil {
				_, err = io.Copy(part, f)
			}
			if err == nil {
				err = form.Close()
			}
			pw.CloseWithError(err)
		}()
		req, err = http.NewRequest("POST", url, pr)
		if err != nil {
			fail(err)
		}
		req.Header.Set("Content-Type", form.FormDataContentType())
	default:
		fail(fmt.Errorf("unknown mode %q", mode))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		fail(err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		fail(fmt.Errorf("unexpected status %d", res.StatusCode))
	}
	os.Stdout.Write(body)
}

func save(url, path string) {
	res, err := http.Get(url)
	if err != nil {
		fail(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		fail(fmt.Errorf("unexpected status %d", res.StatusCode))
	}
	f, err := os.Create(path)
	if err != nil {
		fail(err)
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "go-client:", err)
	os.Exit(1)
}
