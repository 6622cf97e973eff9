// Package clients runs cloud.google.com/go/storage against the Tidemark emulator.
package clients
