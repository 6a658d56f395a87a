"""rucnet: the command line and the one-machine supervisor that compose the services."""
