package warm

import (
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/testreq"
)

// Helper processes of these tests: the test binary run again with one of
// these set.
const (
	helperConnectEnv = "NSFORK_WARM_TEST_CONNECT" // connect to this socket, then wait for stdin's end
	helperProofEnv   = "NSFORK_WARM_TEST_PROOF"   // PID:FD: print readProof's bytes in hex, or the error
	helperDomainEnv  = "NSFORK_WARM_TEST_DOMAIN"  // 1: enter a Landlock domain first
)

// TestWarmHelper is a helper, not a test (see the constants above).
func TestWarmHelper(t *testing.T) {
	if sock := os.Getenv(helperConnectEnv); sock != "" {
		c, err := net.Dial("unix", sock)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(2)
		}
		var b [1]byte
		os.Stdin.Read(b[:])
		c.Close()
		os.Exit(0)
	}
	spec := os.Getenv(helperProofEnv)
	if spec == "" {
		t.Skip("helper process of the peer and proof tests")
	}
	if os.Getenv(helperDomainEnv) == "1" {
		// A domain that handles no file or network access at all, only
		// signals: what Landlock refuses to every domain is at stake.
		unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
		if err := landlock.MustConfig(landlock.ScopedSet(llsys.ScopeSignal)).RestrictScoped(); err != nil {
			fmt.Println("landlock:", err)
			os.Exit(2)
		}
	}
	pidS, fdS, _ := strings.Cut(spec, ":")
	pid, _ := strconv.Atoi(pidS)
	fd, _ := strconv.Atoi(fdS)
	b, err := readProof(pid, fd)
	if err != nil {
		fmt.Println("error:", err)
	} else {
		fmt.Println(hex.EncodeToString(b))
	}
	os.Exit(0)
}

func helper(env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestWarmHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

func needPeerPidfd(t *testing.T) {
	err := PeerPidfdSupported()
	testreq.Need(t, err == nil, "SO_PEERPIDFD (Linux 6.5): %v", err)
}

// TestPinPeerRefusesAnExitedCaller: a caller that connected and was reaped
// before the server looked at it is refused, although SO_PEERCRED still
// names its pid (which another process may hold by then); a live caller
// is pinned, and the pin fails once it exited.
func TestPinPeerRefusesAnExitedCaller(t *testing.T) {
	needPeerPidfd(t)
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	gone := helper(helperConnectEnv + "=" + sock)
	if out, err := gone.Output(); err != nil {
		t.Fatalf("helper: %v %q", err, out)
	}
	c, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cred, err := peerCred(c)
	if err != nil || int(cred.Pid) != gone.Process.Pid {
		t.Fatalf("SO_PEERCRED: %+v %v, want pid %d", cred, err, gone.Process.Pid)
	}
	if p, err := pinPeer(c, int(cred.Pid)); err == nil {
		p.close()
		t.Fatalf("a reaped caller (pid %d) was pinned", cred.Pid)
	} else {
		t.Logf("reaped caller: %v", err)
	}

	live := helper(helperConnectEnv + "=" + sock)
	stdin, _ := live.StdinPipe()
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	c2, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	p, err := pinPeer(c2, live.Process.Pid)
	if err != nil {
		t.Fatalf("a live caller: %v", err)
	}
	defer p.close()
	if err := p.check(); err != nil {
		t.Errorf("a live caller's pin: %v", err)
	}
	if _, err := pinPeer(c2, live.Process.Pid+1); err == nil || !strings.Contains(err.Error(), "not") {
		t.Errorf("a pin for another pid: %v, want an error", err)
	}
	stdin.Close()
	live.Wait()
	if err := p.check(); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("the pin of a caller that exited and was reaped: %v, want an error saying it exited", err)
	}
}

// TestPidfdHolds: the check itself, on a real process's pidfd: it holds
// the pid while the process lives, and not once it was reaped.
func TestPidfdHolds(t *testing.T) {
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		cmd.Process.Kill()
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	if err := pidfdHolds(pidfd, cmd.Process.Pid); err != nil {
		t.Errorf("a live process: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := pidfdHolds(pidfd, cmd.Process.Pid); err == nil {
		t.Error("a reaped process's pidfd still holds its pid")
	}
}

// TestProof: the server's challenge is met by a caller that reads the
// server's descriptor through /proc, and by nothing else; a process in a
// Landlock domain, even one that handles no file access, cannot read it.
func TestProof(t *testing.T) {
	a, b := socketPair(t)
	defer a.Close()
	defer b.Close()
	answer := func(reply func(m message) error) error {
		res := make(chan error, 1)
		go func() { res <- challenge(a, "caller") }()
		var m message
		if _, err := readFrame(b, &m, 0); err != nil || m.Kind != kindProve {
			t.Fatalf("challenge: %+v %v", m, err)
		}
		if err := reply(m); err != nil {
			t.Fatal(err)
		}
		return <-res
	}
	if err := answer(func(m message) error { return prove(b, os.Getpid(), m.Fd) }); err != nil {
		t.Errorf("a caller that read the descriptor: %v", err)
	}
	if err := answer(func(m message) error {
		return writeFrame(b, message{Kind: kindProof, Proof: make([]byte, proofSize)})
	}); err == nil {
		t.Error("a guessed proof was accepted")
	}
	if err := answer(func(m message) error { return writeFrame(b, message{Kind: kindProof, Msg: "permission denied"}) }); err == nil || !strings.Contains(err.Error(), "Landlock domain") {
		t.Errorf("a caller that could not read it: %v, want a refusal naming the Landlock domain", err)
	}

	// Another process: without a domain it reads the nonce, in one it
	// cannot.
	fd, err := unix.MemfdCreate("proof-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	nonce := []byte(strings.Repeat("n", proofSize))
	unix.Pwrite(fd, nonce, 0)
	spec := fmt.Sprintf("%s=%d:%d", helperProofEnv, os.Getpid(), fd)
	out, err := helper(spec).Output()
	if err != nil || strings.TrimSpace(string(out)) != hex.EncodeToString(nonce) {
		t.Errorf("another process of this user: %q %v, want the nonce", out, err)
	}
	abi, _ := llsys.LandlockGetABIVersion()
	testreq.Need(t, abi >= 6, "Landlock ABI 6 (Linux 6.12) for a signal-only domain; this kernel has ABI %d", abi)
	out, err = helper(spec, helperDomainEnv+"=1").Output()
	if err != nil || !strings.HasPrefix(string(out), "error:") || !strings.Contains(string(out), "permission denied") {
		t.Errorf("a process in a Landlock domain: %q %v, want permission denied", out, err)
	}
}

func socketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}
