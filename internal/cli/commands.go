package cli

// commands is the one list of subcommands. A command is added here only when
// it works end to end, so `riskmap --help` never advertises a stub.
func commands() []Command {
	return []Command{
		{Name: "sensor", Summary: "discover this host's topology, report it to the console, run its scans", Run: runSensor},
	}
}
