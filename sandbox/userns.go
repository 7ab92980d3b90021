package sandbox

// RootInInitialUserNS reports whether the calling process is root in the
// initial user namespace, host root: euid 0, and its user namespace is
// the one the kernel started with. Root of any other user namespace
// (rootless podman runs its OCI runtime so; `unshare -r`; a process in a
// container with a user namespace) is not: its capabilities count only
// over that namespace's own objects, the host's /run, the pool of host ids
// (LeasesIDRange) and the host's cgroups are not its to take, and nsfork
// gives it the rootless defaults, as to any user (Default, MPI, sandboxrun).
//
// The test is the inode of the process's user namespace, which the kernel
// gives through a pidfd of the process (PIDFD_GET_USER_NAMESPACE, Linux
// 6.11; before, /proc/self/ns/user, a path root of a user namespace with
// a mount namespace of its own can mount another nsfs file on): the
// initial user namespace has the fixed inode PROC_USER_INIT_INO
// (0xEFFFFFFD, Linux 3.8 and later), which no other namespace gets (theirs
// are allocated from 0xF0000000 up). Where that file cannot be read, /proc/self/uid_map is
// read instead: the initial namespace maps the whole range, "0 0
// 4294967295" (a namespace made by host root may map the whole range too,
// which is why the inode comes first). Where neither can be read the
// answer is false: the caller gets the rootless defaults, which ask the
// kernel for less. The answer is not an authorisation: the kernel checks
// every operation; a wrong true makes root's operations fail, never
// succeed where they should not.
//
// The namespace is read once per process (a multi-threaded Go program
// cannot change its user namespace); the euid on every call.
func RootInInitialUserNS() bool { return rootInInitialUserNS() }

// UserNSTag is "" in the initial user namespace and "-ns" followed by the
// inode number of the caller's user namespace in any other (read as
// RootInInitialUserNS reads it). Per-user names in a directory shared
// across user namespaces (the temporary directory) take it, so that uid N
// of one namespace never takes, or is refused, uid N's name of another:
// root of every `unshare -r` is uid 0.
func UserNSTag() string { return userNSTag() }
