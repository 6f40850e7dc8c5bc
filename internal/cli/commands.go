package cli

// commands is the one list of subcommands. A command is added here only when
// it works end to end, so `riskmap --help` never advertises a stub.
func commands() []Command {
	return []Command{
		{Name: "console", Summary: "run the console: HTTPS API, users, storage (reset-password EMAIL for a reset link)", Run: runConsole},
		{Name: "sbom", Summary: "list the packages in a directory, image, container or SBOM", Run: runSBOM},
		feedsCommand(),
		scanCommand(),
		malwareRulesCommand(),
		{Name: "up", Summary: "console and a sensor for this machine on the embedded database: the one-command start", Run: runUp},
		{Name: "sensor", Summary: "discover this host's topology, report it to the console, run its scans", Run: runSensor},
	}
}
