package match

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/riskmap/riskmap/internal/inventory"
	"github.com/riskmap/riskmap/internal/vulndb"
	"github.com/riskmap/riskmap/internal/vulndb/kbtest"
)

// lowVersion is an early version per ecosystem, so a package matches most
// of its advisories (a pessimistic inventory).
var lowVersion = map[string]string{
	"Debian": "0.1-1", "AlmaLinux": "0.1-1.el9", "Alpine": "0.1-r0", "Go": "v0.0.1", "PyPI": "0.0.1", "crates.io": "0.0.1",
}

// benchInventory returns n distinct packages spread evenly over every
// package the knowledge base indexes, each at an early version.
func benchInventory(db *vulndb.DB, n int) *inventory.Inventory {
	type key struct{ eco, name string }
	var all []key
	db.Keys(func(eco, name string) bool {
		if _, ok := lowVersion[vulndb.BaseEcosystem(eco)]; ok {
			all = append(all, key{eco, name})
		}
		return true
	})
	inv := &inventory.Inventory{}
	step := len(all) / n
	for i := 0; i < n; i++ {
		k := all[i*step]
		inv.Packages = append(inv.Packages, inventory.Package{
			Name: k.name, Version: lowVersion[vulndb.BaseEcosystem(k.eco)], Ecosystem: k.eco,
			PURL: fmt.Sprintf("pkg:generic/%s@%d", k.name, i),
		})
	}
	return inv
}

// BenchmarkMatch1000 matches 1,000 packages against the knowledge base
// compiled from the shared feeds (goal: ≤ 50 ms per op).
func BenchmarkMatch1000(b *testing.B) {
	db := kbtest.Shared(b)
	dbBytes, err := os.ReadFile(db.Path())
	if err != nil {
		b.Fatal(err)
	}
	inv := benchInventory(db, 1000)
	// Collect the knowledge base import's garbage now, so its collection is
	// not counted as matching CPU.
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for b.Loop() {
		// A fresh DB each time: no decoded record survives from the previous
		// iteration, as in a one-shot CLI scan.
		b.StopTimer()
		fresh, err := vulndb.Decode(dbBytes)
		if err != nil {
			b.Fatal(err)
		}
		m := New(fresh)
		b.StartTimer()
		c0 := cpuTime()
		res, err := m.Match(context.Background(), inv, Options{})
		if err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
		b.ReportMetric(float64(len(res.Findings)), "findings/op")
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkMatch1000Warm is the same with the DB's decoded-record cache
// warm, as in the console matching many inventories.
func BenchmarkMatch1000Warm(b *testing.B) {
	db := kbtest.Shared(b)
	m := New(db)
	inv := benchInventory(db, 1000)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		if _, err := m.Match(context.Background(), inv, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// cpuTime is the process's user+system CPU time: on a shared machine it is
// the comparable figure when wall time is inflated by other load.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkOpen opens the knowledge base (goal: ≤ 100 ms).
func BenchmarkOpen(b *testing.B) {
	kbtest.Shared(b)
	path := kbtest.SharedDataDir(b) + "/" + vulndb.FileName
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		db, err := vulndb.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}
