package fork

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/nsfork/nsfork/internal/console"
	"github.com/nsfork/nsfork/internal/wire"
	"github.com/nsfork/nsfork/sandbox"
)

// commandConsole, with Config.Console (sock >= 0), makes the command's
// terminal inside the sandbox and sends its master to the caller's socket;
// it returns the slave, or the exit code of a failed "console" step.
func commandConsole(sock int, send func(wire.Kind, []byte)) (*os.File, int) {
	if sock < 0 {
		return nil, 0
	}
	defer unix.Close(sock)
	slave, err := console.OpenAndSend(sock)
	if err != nil {
		return nil, consoleFailed(send, err)
	}
	return slave, 0
}

// consoleFailed reports a failure of the "console" step.
func consoleFailed(send func(wire.Kind, []byte), err error) int {
	se := sandbox.NewSetupError("console", "make the terminal", "", err)
	send(wire.KindSetup, setupFrame(se))
	return se.ExitCode()
}
