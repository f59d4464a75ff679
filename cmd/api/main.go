// Command api is Maestro's api service for Cloud Run. It runs on the production backends
// (Firestore, Pub/Sub, BigQuery, Cloud Storage), which are not wired yet: until they are,
// use `maestro dev`, which runs the same api code on embedded backends in one process.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "maestro api: the production backends (Firestore, Pub/Sub, BigQuery) are not wired into this binary yet; run `maestro dev` for the embedded version")
	os.Exit(2)
}
