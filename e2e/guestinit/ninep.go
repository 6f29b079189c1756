package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gokvm/gokvm/e2e/pattern"
	"golang.org/x/sys/unix"
)

// ninepAction performs the virtio-9p actions (paths are the guest's):
//
//	mount9p:TAG:DIR[:MSIZE]  mount the share TAG at DIR (retried while the
//	                         device probes)
//	fsha:PATH                GUEST-FSHA PATH SHA256 SIZE
//	fwrite:PATH:SEED:KiB     write pattern data, fsync: GUEST-FWROTE PATH SHA SIZE
//	trywrite:PATH            create PATH, write an existing PATH, mkdir
//	                         PATH.d: GUEST-TRYWRITE PATH <errors>
//	ls:PATH                  GUEST-LS PATH name,name,... or the error
//	readlink:PATH            GUEST-READLINK PATH TARGET or the error
//	cat:PATH                 GUEST-CAT PATH "first 64 bytes" or the error
//	readbench:PATH           read PATH sequentially in 1 MiB reads:
//	                         GUEST-9P-READ PATH BYTES SECONDS MB/s
func ninepAction(f []string) error {
	arg := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	switch f[0] {
	case "mount9p":
		return mount9p(arg(1), arg(2), arg(3))
	case "fsha":
		b, err := os.ReadFile(arg(1))
		if err != nil {
			fmt.Printf("GUEST-FSHA %s error %v\n", arg(1), err)
			return nil
		}
		fmt.Printf("GUEST-FSHA %s %s %d\n", arg(1), pattern.SHA256(b), len(b))
	case "fwrite":
		seed, _ := strconv.ParseUint(arg(2), 10, 64)
		kib, _ := strconv.Atoi(arg(3))
		data := pattern.Bytes(seed, kib<<10)
		fl, err := os.OpenFile(arg(1), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := fl.Write(data); err != nil {
			fl.Close()
			return err
		}
		if err := fl.Sync(); err != nil {
			fl.Close()
			return err
		}
		if err := fl.Close(); err != nil {
			return err
		}
		fmt.Printf("GUEST-FWROTE %s %s %d\n", arg(1), pattern.SHA256(data), len(data))
	case "trywrite":
		p := arg(1)
		_, errCreate := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		errMkdir := os.Mkdir(p+".d", 0o755)
		var errs []string
		for _, e := range []error{errCreate, errMkdir} {
			errs = append(errs, errnoName(e))
		}
		fmt.Printf("GUEST-TRYWRITE %s %s\n", p, strings.Join(errs, ","))
	case "trymodify": // trymodify:PATH: write, truncate, chmod, rename, remove an existing file
		p := arg(1)
		var errs []string
		fl, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			_, err = fl.Write([]byte("x"))
			fl.Close()
		}
		errs = append(errs, errnoName(err))
		errs = append(errs, errnoName(os.Truncate(p, 0)))
		errs = append(errs, errnoName(os.Chmod(p, 0o777)))
		errs = append(errs, errnoName(os.Rename(p, p+".moved")))
		errs = append(errs, errnoName(os.Remove(p)))
		errs = append(errs, errnoName(os.Symlink("x", p+".ln")))
		fmt.Printf("GUEST-TRYMODIFY %s %s\n", p, strings.Join(errs, ","))
	case "ls":
		ents, err := os.ReadDir(arg(1))
		if err != nil {
			fmt.Printf("GUEST-LS %s error %s\n", arg(1), errnoName(err))
			return nil
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		fmt.Printf("GUEST-LS %s %s\n", arg(1), strings.Join(names, ","))
	case "readlink":
		t, err := os.Readlink(arg(1))
		if err != nil {
			fmt.Printf("GUEST-READLINK %s error %s\n", arg(1), errnoName(err))
			return nil
		}
		fmt.Printf("GUEST-READLINK %s %s\n", arg(1), t)
	case "cat":
		b, err := os.ReadFile(arg(1))
		if err != nil {
			fmt.Printf("GUEST-CAT %s error %s\n", arg(1), errnoName(err))
			return nil
		}
		fmt.Printf("GUEST-CAT %s %q\n", arg(1), b[:min(len(b), 64)])
	case "readbench":
		return readBench(arg(1))
	default:
		return fmt.Errorf("unknown 9p action %q", f[0])
	}
	return nil
}

// errnoName is an error's errno name (EROFS), "ok" for nil.
func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	var en unix.Errno
	for e := err; e != nil; {
		if x, ok := e.(unix.Errno); ok {
			en = x
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if en != 0 {
		if n := unix.ErrnoName(en); n != "" {
			return n
		}
	}
	return strings.ReplaceAll(err.Error(), " ", "_")
}

func mount9p(tag, dir, msize string) error {
	os.MkdirAll(dir, 0o755)
	opts := "trans=virtio,version=9p2000.L"
	if msize != "" {
		opts += ",msize=" + msize
	}
	var err error
	for i := 0; i < 100; i++ {
		if err = unix.Mount(tag, dir, "9p", 0, opts); err == nil {
			fmt.Printf("GUEST-MOUNT9P %s %s ok\n", tag, dir)
			if b, err := os.ReadFile("/proc/mounts"); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if f := strings.Fields(l); len(f) > 3 && f[1] == dir {
						fmt.Printf("GUEST-MOUNT9P-OPTS %s %s\n", dir, f[3])
					}
				}
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("mount 9p %s on %s (%s): %v", tag, dir, opts, err)
}

func readBench(p string) error {
	fl, err := os.Open(p)
	if err != nil {
		return err
	}
	defer fl.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{fl}, buf)
	if err != nil {
		return err
	}
	s := time.Since(start).Seconds()
	fmt.Printf("GUEST-9P-READ %s %d %.2f %.1f MB/s\n", p, n, s, float64(n)/s/1e6)
	return nil
}
