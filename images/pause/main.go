// The pod sandbox's pause process: holds the pod's namespaces until the runtime stops it. Built by
// scripts/image.sh into localhost/spillway-pause (no registry, so no upstream pause image).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
