package seccomp

//go:generate go run ./internal/gensyscalls -o zsyscalls.go
