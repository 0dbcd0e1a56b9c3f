from ssimcli.cli.main import main

main()
