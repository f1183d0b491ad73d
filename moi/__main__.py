from moi.cli import main

main(prog_name="moi")
