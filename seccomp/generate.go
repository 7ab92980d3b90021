package seccomp

//go:generate go run ./internal/gensyscalls -o zsyscalls.go
//go:generate go run ./internal/gendefault -o zdefault.go
