package forkchild

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// commLen is what the kernel keeps of a thread's name (TASK_COMM_LEN less
// the terminating NUL).
const commLen = 15

// The child is an exec of /proc/self/exe (or of a sealed copy of it), so
// the kernel named it "exe" (or the copy's descriptor number): ps -o comm,
// top, ss -p, pgrep and killall would not find it by the name the program
// has everywhere else. Both renames below give it the base name of the
// executable, which the kernel gives a program started by its path
// (go-fork's child, an exec of os.Executable(), had it too), cut to 15
// bytes (CommName).

// SetCommAllThreads renames every thread the child has now (threads
// started later copy the name of the thread that starts them). Without
// cgo one syscall.AllThreadsSyscall does it on every thread at once. With
// cgo (where that is refused) the calling thread uses PR_SET_NAME and the
// others are renamed through /proc (the threads listed in
// /proc/self/task, each renamed through its /proc/TID/comm), which the
// kernel allows within a thread group; that costs more than the rename
// itself (the /proc entries a child opened are invalidated when it is
// reaped: about 1-2 ms of CPU time per child here). Best effort: a cgo
// child without /proc keeps the kernel's name on its other threads.
func SetCommAllThreads() {
	name := CommName(os.Args)
	p, ok := commPtr(name)
	if !ok {
		return
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NAME, p, 0); e == 0 {
		return
	}
	unix.Prctl(unix.PR_SET_NAME, p, 0, 0, 0)
	renameOtherThreads(name)
}

// SetCommLeader renames the thread group leader only: its name is the
// process's, the one ps -o comm, top, ss -p, pgrep and killall show. On
// the leader itself (Init called from an init function, which the runtime
// runs on the main thread) that is one prctl; elsewhere a write to
// /proc/self/comm. The other threads (ps -L, top -H) keep the kernel's
// name, as do threads they start later.
func SetCommLeader() {
	name := CommName(os.Args)
	p, ok := commPtr(name)
	if !ok {
		return
	}
	if unix.Gettid() == os.Getpid() {
		unix.Prctl(unix.PR_SET_NAME, p, 0, 0, 0)
		return
	}
	if f, err := os.OpenFile("/proc/self/comm", os.O_WRONLY, 0); err == nil {
		f.WriteString(name)
		f.Close()
	}
}

func commPtr(name string) (uintptr, bool) {
	if name == "" {
		return 0, false
	}
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, false
	}
	return uintptr(unsafe.Pointer(p)), true
}

// renameOtherThreads names every thread but the calling one through /proc.
func renameOtherThreads(name string) {
	self := unix.Gettid()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Name() == strconv.Itoa(self) {
			continue
		}
		// /proc/TID/comm, not /proc/self/task/TID/comm: the same file,
		// but the kernel's clean-up of what the latter leaves cached
		// costs the reaping parent more (about 2 ms a child here).
		if f, err := os.OpenFile("/proc/"+e.Name()+"/comm", os.O_WRONLY, 0); err == nil {
			f.WriteString(name)
			f.Close()
		}
	}
}

// CommName is the base name of this process's executable, or of argv[0]
// when the executable is an in-memory copy, cut to what comm holds.
func CommName(args []string) string {
	name := ""
	if exe, err := os.Executable(); err == nil && !strings.HasPrefix(exe, "/memfd:") {
		name = filepath.Base(exe)
	} else if len(args) > 0 && args[0] != "" {
		name = filepath.Base(args[0])
	}
	if name == "." || name == "/" {
		return ""
	}
	if len(name) > commLen {
		name = name[:commLen]
	}
	return name
}
