from rucnet.cli import main

main()
