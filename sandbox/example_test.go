package sandbox_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nsfork/nsfork/sandbox"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func Example() {
	o := &sandbox.Options{
		Namespaces:      []specs.LinuxNamespace{{Type: specs.UserNamespace}, {Type: specs.PIDNamespace}},
		UIDMappings:     []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}},
		Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
		NoNewPrivileges: true,
	}
	b, _ := json.MarshalIndent(o, "", "  ")
	fmt.Println(string(b))
	// Output:
	// {
	//   "namespaces": [
	//     {
	//       "type": "user"
	//     },
	//     {
	//       "type": "pid"
	//     }
	//   ],
	//   "uidMappings": [
	//     {
	//       "containerID": 0,
	//       "hostID": 1000,
	//       "size": 1
	//     }
	//   ],
	//   "user": {
	//     "uid": 0,
	//     "gid": 0
	//   },
	//   "rlimits": [
	//     {
	//       "type": "RLIMIT_NOFILE",
	//       "hard": 1024,
	//       "soft": 1024
	//     }
	//   ],
	//   "noNewPrivileges": true
	// }
}

func ExampleOptions_Validate() {
	o := &sandbox.Options{
		Rlimits: []specs.POSIXRlimit{{Type: "nofile", Hard: 10, Soft: 100}},
		Cwd:     "tmp",
	}
	err := o.Validate()
	fmt.Println(err)
	fmt.Println(errors.Is(err, sandbox.ErrInvalid))
	// Output:
	// sandbox: rlimits[0].type "nofile": unknown rlimit (did you mean "RLIMIT_NOFILE"?)
	// sandbox: rlimits[0] "nofile": soft limit 100 is above hard limit 10
	// sandbox: cwd "tmp": must be an absolute path
	// true
}
