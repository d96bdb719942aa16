from guichet.runtime.cli import main

main()
