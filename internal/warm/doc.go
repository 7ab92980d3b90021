// Package warm is sandboxrun's warm path: a pool of sandboxes set up ahead
// of the commands they will run, kept by a server process of the caller's
// own, reached over a unix socket.
//
// Every child of the pool (fork.NewCommandPool) is started and isolated
// exactly as a cold launch's would be, by the same code, from a server
// whose own context (ids, groups, capabilities, no_new_privs, seccomp
// mode, ignored signals, umask, namespaces, cgroup, rlimits, root,
// executable) equals the caller's; it then waits for one command, runs it
// and ends: isolation is never shared between commands.
//
// A pool is keyed by the canonical JSON of the validated sandbox options
// and by the caller's context, scope included (the Slurm job, or else the
// caller's session): Key hashes both, and the socket is named after the
// hash. The server checks again for every connection: the peer's uid
// (SO_PEERCRED) must be the server's, the options the client sends must be
// byte for byte the server's, and the peer's context, read by the server
// from /proc/PID while a pidfd (SO_PEERPIDFD) pins the peer, must equal
// the server's own; and the peer must read one of the server's
// descriptors through /proc/SERVER/fd, which the kernel refuses a process
// in a Landlock domain the server is not in (proof.go). A request that
// fails any of these is refused, never served by a child made for
// something else.
//
// The sockets live in a directory of the user's own, mode 0700 (Dir): under
// $XDG_RUNTIME_DIR, /run/nsfork/warm/0 for root, or the temporary
// directory; a directory that is not the user's, or open to others, is an
// error. A server holds an exclusive lock (flock) on its lock file for its
// lifetime; only the lock holder removes a socket left by a server that
// died, and binds a new one.
//
// A server ends when it was idle (no command running, none asked for) for
// its idle timeout, or when the session it serves ends (its leader exits).
// Its children die with it (the parent-death signal).
//
// The client (Conn) passes the caller's stdin, stdout and stderr as
// descriptors (SCM_RIGHTS), argv, environment and working directory,
// forwards signals, and receives the exit code and message sandboxrun
// would have given for a cold launch of the same command.
package warm
