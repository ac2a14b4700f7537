from rain.cli import main

main()
