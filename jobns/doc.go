// Package jobns runs the ranks of one job, on one node, in one shared set
// of user, pid, mount and ipc namespaces, in pure Go.
//
// A Go program cannot setns(2) into a user or a mount namespace: the kernel
// refuses it to a multi-threaded process, and the Go runtime has started
// threads before any Go code runs. So the ranks do not join the namespaces;
// a holder that lives in them starts the ranks for their callers:
//
//   - The first caller for a job name (per user; decided under flock(2) on
//     DIR/NAME.lock) creates the listening socket DIR/NAME.sock and starts
//     the holder with package fork: a registered function in new user, pid,
//     mount and ipc namespaces, with the caller's sandbox applied to itself
//     (capabilities dropped, no_new_privs, seccomp, Landlock, mounts...),
//     in its own session, outliving that caller (fork.Config.KeepAlive).
//     The listening socket travels to it as an *os.File argument, so it
//     stays reachable at its host path whatever the sandbox's mounts are.
//     DIR is RuntimeDir: a per-user runtime directory no other user can
//     create ($XDG_RUNTIME_DIR, /run/user/UID), else /tmp/nsfork-jobns-UID,
//     which is refused (ErrSquatted, naming its owner) when another user
//     made it first.
//   - Every caller, the first included, connects, checks the peer's
//     SO_PEERCRED (same uid), and sends its stdin, stdout and stderr
//     (SCM_RIGHTS), then its argv, environment, working directory and a
//     digest of its sandbox options (Digest). The holder checks the
//     caller's SO_PEERCRED in turn, refuses a caller whose digest differs
//     from its own (ErrOptionsDiffer), and fork/execs the rank in its own
//     session inside the namespaces. The rank inherits everything the
//     holder applied.
//   - The caller relays signals to the rank (Rank.Signal) and gets its exit
//     status back (Rank.Wait). When the caller's connection drops (the
//     caller was SIGKILLed), the holder SIGKILLs the rank's process group.
//     When a rank ends, what is left of its process group is killed too.
//   - Members come only from outside the job: the holder refuses a caller
//     whose SO_PEERCRED pid it can see, that is one inside the job's own
//     pid namespace (ErrInsideJob), so a rank cannot add members to its
//     job nor keep it alive.
//   - The holder is pid 1 of the job's pid namespace: it reaps orphans. It
//     exits, removing its socket, once its last member has left and no
//     member has come for Job.Grace (DefaultGrace, half a second), whatever
//     happens inside (a refused caller does not count, and the job's lock,
//     which a rank can reach, is waited for only briefly); everything
//     still in the pid namespace dies with it. A caller that meets a holder on its way out
//     (the connection closes before any answer) retries, and then starts a
//     new holder.
//
// The ranks share the job's pid namespace, so they see each other in
// /proc, and its user namespace, so OpenMPI's single-copy transport (CMA,
// process_vm_readv) between them stays on.
//
// Importing jobns registers the holder function with fork.RegisterFunc: a
// program that uses it must call fork.Init first thing, as every program
// using fork does.
//
// Limits: the rank is a child of the holder, not of its caller, so a
// process tracker that follows the caller's descendants (Slurm's
// proctrack/linuxproc) does not see it; signals reach it through the
// caller's relay, and the caller's death kills it. cgroup limits are
// refused (the holder's cgroup would be shared by all ranks and outlive
// the caller that made it).
package jobns
