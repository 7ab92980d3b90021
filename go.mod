module github.com/nsfork/nsfork

go 1.25.0

require (
	github.com/cyphar/filepath-securejoin v0.7.0
	github.com/kraken-hpc/go-fork v0.1.1
	github.com/landlock-lsm/go-landlock v0.10.1
	github.com/moby/profiles/seccomp v0.3.0
	github.com/moby/sys/capability v0.5.0
	github.com/moby/sys/reexec v0.1.0
	github.com/opencontainers/runtime-spec v1.3.0
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	golang.org/x/image v0.45.0
	golang.org/x/net v0.58.0
	golang.org/x/sys v0.47.0
	kernel.org/pub/linux/libs/security/libcap/psx v1.2.78
)

require (
	cyphar.com/go-pathrs v0.2.5 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
)
