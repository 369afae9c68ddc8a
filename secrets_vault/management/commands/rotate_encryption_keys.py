"""Re-encrypt every encrypted column of every app with the newest FIELD_ENCRYPTION_KEY.

    FIELD_ENCRYPTION_KEY=<new>,<old> python manage.py rotate_encryption_keys
    # then drop <old> from FIELD_ENCRYPTION_KEY

Columns are found by walking all installed models for encrypted fields (`VaultField` and the
fields of django-encrypted-model-fields it extends), so later apps are covered without
registering anything. Rows are read and written as raw ciphertext in batches, one transaction
per batch; each write is conditional on the row still holding the ciphertext that was read (a
concurrent change wins). A value the newest key already opens is skipped, so the command is
safe to interrupt and run again. A value no configured key opens is left exactly as it is and
reported (by model, column and primary key; never a value); the command then exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router, transaction
from encrypted_model_fields.fields import EncryptedMixin

from secrets_vault import crypto


@dataclass
class ColumnReport:
    label: str
    scanned: int = 0
    rotated: int = 0
    current: int = 0
    failed: list[Any] = field(default_factory=list)


def encrypted_columns() -> list[tuple[type, Any]]:
    """(model, field) for every concrete encrypted column of every installed model."""
    found = []
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy or not opts.managed or opts.swapped:
            continue
        for f in opts.local_concrete_fields:
            if isinstance(f, EncryptedMixin):
                found.append((model, f))
    return found


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column with the newest FIELD_ENCRYPTION_KEY, in batches."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--dry-run", action="store_true",
                            help="Count what would be re-encrypted; write nothing.")

    def handle(self, *args: Any, batch_size: int, dry_run: bool, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        keys = crypto.configured_keys()
        self.stdout.write(f"{len(keys)} key(s) configured; re-encrypting with the newest."
                          + (" Dry run: nothing is written." if dry_run else ""))
        reports = [self.rotate_column(model, f, batch_size, dry_run)
                   for model, f in encrypted_columns()]
        for r in reports:
            line = (f"{r.label}: {r.scanned} scanned, {r.rotated} "
                    f"{'to re-encrypt' if dry_run else 're-encrypted'}, {r.current} already "
                    f"current, {len(r.failed)} undecryptable")
            self.stdout.write(line)
            for pk in r.failed[:20]:
                self.stderr.write(f"  {r.label} pk={pk}: no configured key decrypts it; "
                                  "left unchanged")
        total = sum(r.rotated for r in reports)
        failed = sum(len(r.failed) for r in reports)
        self.stdout.write(f"Done: {total} value(s) {'to re-encrypt' if dry_run else 're-encrypted'}"
                          f" in {len(reports)} column(s); {failed} undecryptable.")
        if failed:
            raise CommandError(f"{failed} value(s) could not be decrypted with any configured "
                               "key and were left unchanged. Do not drop old keys until they "
                               "are resolved (restore the key, or set those values again).")

    def rotate_column(self, model: type, f: Any, batch_size: int, dry_run: bool) -> ColumnReport:
        opts = model._meta
        report = ColumnReport(label=f"{opts.label}.{f.name}")
        db = router.db_for_write(model)
        conn = connections[db]
        qn = conn.ops.quote_name
        table, col, pk_col = qn(opts.db_table), qn(f.column), qn(opts.pk.column)
        select = (f"SELECT {pk_col}, {col} FROM {table} WHERE {col} IS NOT NULL "  # noqa: S608
                  f"AND {pk_col} > %s ORDER BY {pk_col} LIMIT %s")
        first = (f"SELECT {pk_col}, {col} FROM {table} WHERE {col} IS NOT NULL "  # noqa: S608
                 f"ORDER BY {pk_col} LIMIT %s")
        update = f"UPDATE {table} SET {col} = %s WHERE {pk_col} = %s AND {col} = %s"  # noqa: S608
        last: Any = None
        while True:
            with transaction.atomic(using=db), conn.cursor() as cursor:
                if last is None:
                    cursor.execute(first, [batch_size])
                else:
                    cursor.execute(select, [last, batch_size])
                rows = cursor.fetchall()
                for pk, token in rows:
                    report.scanned += 1
                    if isinstance(token, bytes | memoryview):
                        token = bytes(token).decode("ascii", "replace")
                    if crypto.is_current(token):
                        report.current += 1
                        continue
                    try:
                        new = crypto.rotate(token)
                    except crypto.DecryptionFailed:
                        report.failed.append(pk)
                        continue
                    report.rotated += 1
                    if not dry_run:
                        cursor.execute(update, [new, pk, token])
            if len(rows) < batch_size:
                return report
            last = rows[-1][0]
