from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from ...rooms import DEMO_USERS


class Command(BaseCommand):
    help = "Create the demo users (alice/alice, bob/bob, carol/carol). Safe to run again."

    def handle(self, *args, **options):
        users = get_user_model()._default_manager
        for username, password in DEMO_USERS:
            user, created = users.get_or_create(**{users.model.USERNAME_FIELD: username})
            if created or not user.check_password(password) or not user.is_active:
                user.set_password(password)
                user.is_active = True
                user.save()
            state = "created" if created else "ready"
            self.stdout.write(f"{username}/{password}: {state}")
