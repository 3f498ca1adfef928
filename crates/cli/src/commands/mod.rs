// one module per subcommand
