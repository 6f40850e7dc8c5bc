package extract

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

func TestBinaryMayHaveMarker(t *testing.T) {
	self, err := os.Executable() // a Go binary: it has .go.buildinfo
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	shell, err := exec.LookPath("sh") // dash or bash: ELF without either section
	if err != nil {
		t.Skip("no sh on PATH")
	}
	cBin, err := os.ReadFile(shell)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{name: "go_binary", in: goBin, want: true},
		{name: "c_binary", in: cBin, want: false},
		{name: "script", in: []byte("#!/bin/sh\necho hi\n"), want: false},
		{name: "empty", in: nil, want: false},
		{name: "pe_left_to_extractor", in: []byte("MZ\x90\x00rest"), want: true},
		{name: "truncated_elf_left_to_extractor", in: goBin[:40], want: true},
		{name: "elf_section_table_out_of_file", in: goBin[:4096], want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := BinaryMayHaveMarker(bytes.NewReader(tc.in)); got != tc.want {
				t.Errorf("BinaryMayHaveMarker = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzBinaryMayHaveMarker(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte("#!/bin/sh\n"))
	hdr := make([]byte, 64)
	copy(hdr, "\x7fELF\x02\x01\x01")
	hdr[40], hdr[58], hdr[62] = 64, 64, 1 // section table right after the header
	f.Add(hdr)
	f.Fuzz(func(t *testing.T, b []byte) {
		BinaryMayHaveMarker(bytes.NewReader(b)) // must not panic or hang
	})
}
