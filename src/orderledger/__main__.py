from orderledger.cli import main

main()
