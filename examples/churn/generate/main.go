// Command generate writes the churn example (sluice.yaml and its data)
// into a folder: go run ./examples/churn/generate -o /tmp/churn.
package main

import (
	"flag"
	"log"

	"github.com/sluice-ml/sluice/examples/churn"
)

func main() {
	out := flag.String("o", "churn", "folder to write into")
	customers := flag.Int("customers", 5000, "customers")
	seed := flag.Uint64("seed", 1, "seed; the same seed gives the same data")
	flag.Parse()
	if err := churn.Generate(*out, *customers, *seed); err != nil {
		log.Fatal(err)
	}
}
