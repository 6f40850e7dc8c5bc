// Command dropcheck drops the sensor's privileges and reports what is left;
// privileges_test builds it without cgo and runs it as root.
package main

import (
	"fmt"
	"os"

	"github.com/riskmap/riskmap/internal/sensor/privileges"
)

func main() {
	if err := privileges.Drop(privileges.Needed(true)); err != nil {
		fmt.Println("drop:", err)
		os.Exit(1)
	}
	eff, _ := privileges.Effective()
	status, _ := os.ReadFile("/proc/self/status")
	bnd, _ := privileges.ParseCapLine(status, "CapBnd:")
	nnp, _ := privileges.ParseCapLine(status, "NoNewPrivs:")
	fmt.Printf("eff=%x bnd=%x nnp=%d\n", eff, bnd, nnp)
	f, _ := os.CreateTemp("", "dropcheck")
	defer os.Remove(f.Name())
	fmt.Println("chown:", os.Chown(f.Name(), 1234, 1234))
	_, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", os.Getppid()))
	fmt.Println("read parent maps:", err)
}
