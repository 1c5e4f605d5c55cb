"""Local AWS (`scones up`): the AWS APIs the seed's own code calls, over the scones home.

Served so far: S3 (REST-XML) over the buckets under the home, STS GetCallerIdentity, Lambda
(functions run in warm worker processes, each with a private /tmp), CloudWatch Logs for them, and
Step Functions on scones' ASL engine with Lambda tasks bound to those functions.
Everything else answers in AWS's error shape, naming the operation as not supported locally.
"""

from __future__ import annotations

from scones.localaws.app import LocalAws
from scones.localaws.server import export_lines, serve
from scones.localaws.settings import UpConfig, load_up_config

__all__ = ["LocalAws", "UpConfig", "export_lines", "load_up_config", "serve"]
