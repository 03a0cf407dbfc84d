from riftdrill.cli import main

main()
