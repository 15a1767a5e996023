from alfred.cli import main

main()
