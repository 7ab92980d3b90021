package sandbox

// Applied is the sandbox's own record of what it set up, made inside after
// the last setup step and sent to the parent (as JSON) before the function
// runs or the command is executed: fork.Process.Applied returns it, and
// fork.Config.OnApplied sees it first.
type Applied struct {
	Namespaces      map[string]string    `json:"namespaces"` // type -> "type:[inode]"
	UIDMap          string               `json:"uidMap,omitempty"`
	GIDMap          string               `json:"gidMap,omitempty"`
	UID             int                  `json:"uid"`
	GID             int                  `json:"gid"`
	Groups          []int                `json:"groups,omitempty"`
	Hostname        string               `json:"hostname,omitempty"`
	Sysctl          map[string]string    `json:"sysctl,omitempty"` // written, key -> value
	Rlimits         map[string][2]uint64 `json:"rlimits,omitempty"`
	Capabilities    map[string]string    `json:"capabilities,omitempty"` // set -> hex mask
	NoNewPrivileges bool                 `json:"noNewPrivileges"`
	SessionKeyring  int                  `json:"sessionKeyring,omitempty"` // the session keyring's serial
	Seccomp         *SeccompReport       `json:"seccomp,omitempty"`
	Landlock        *LandlockReport      `json:"landlock,omitempty"`
	Root            string               `json:"root,omitempty"` // "pivot_root", "move+chroot" or ""
	Mounts          []string             `json:"mounts,omitempty"`
	// Inexact lists what was asked for and not applied exactly (stricter
	// or weaker): --strict refuses to run the command when it is not
	// empty.
	Inexact []string `json:"inexact,omitempty"`
	// CgroupView is /proc/self/cgroup inside, once the setup is done
	// (with a new cgroup namespace, every path should be "/").
	CgroupView string `json:"cgroupView,omitempty"`
}

// SeccompReport says what filter was loaded.
type SeccompReport struct {
	Instructions int    `json:"instructions"`
	Digest       string `json:"digest"` // sha256 of the BPF program
	Early        bool   `json:"early"`  // loaded before the id change (no no_new_privs)
}

// LandlockReport says which Landlock ABI enforced the rules.
type LandlockReport struct {
	ABI        int  `json:"abi"`
	BestEffort bool `json:"bestEffort"`
}
