from hpo.run import main

raise SystemExit(main())
