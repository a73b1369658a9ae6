from django.core.management.base import BaseCommand, CommandError

from accounts.demo import DemoAccountsRefused, demo_accounts_remove, demo_accounts_seed, demo_removed_marker


class Command(BaseCommand):
    help = ("Create the demo student, teacher and admin (known passwords), enrolled in every course, and "
            "print them. Refused under the production settings of a real deployment.")

    def add_arguments(self, parser):
        parser.add_argument("--remove", action="store_true",
                            help="delete the demo accounts; `make run` will not create them again")
        parser.add_argument("--unless-removed", action="store_true",
                            help="what `make run` does: create missing accounts only (an existing one keeps its "
                                 "password), and none at all once they were removed")

    def handle(self, *args, **options):
        if options["remove"]:
            removed = demo_accounts_remove()
            self.stdout.write(f"Removed the demo accounts: {', '.join(removed) or 'none were left'}. "
                              "`make run` will not create them again (`manage.py seed_demo` would).")
            return
        if options["unless_removed"] and demo_removed_marker().exists():
            self.stdout.write("The demo accounts were removed: not creating them again.")
            return
        try:
            accounts = demo_accounts_seed(keep_existing=options["unless_removed"])
        except DemoAccountsRefused as refused:
            raise CommandError(str(refused))
        for account in accounts:
            self.stdout.write(f"  {account.role.value:8} login: {account.username:8} password: {account.password}")
