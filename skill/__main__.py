from skill.doors.cli import main

raise SystemExit(main())
