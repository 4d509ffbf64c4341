from dockward.cli import run

run()
