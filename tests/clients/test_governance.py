"""Governance end to end through boto3: a data-use policy bound into a
ciphertext, decryption for an allowed and a forbidden purpose, and the use
receipt and the audit proof checked offline with the `kmsgov` binary.

boto3 sends the KMS calls unchanged; the stated purpose travels in the
`x-kmsgov-purpose` and `x-kmsgov-audience` headers (added before signing),
and the `UseReceipt` member that boto3's model drops is read from the raw
response. kmsgov's own operations (`KmsGov.*`) are signed with botocore's
SigV4 signer.

Run: KMSGOV_BIN=target/debug/kmsgov python3 -m unittest discover -s tests/clients -v
"""

import base64
import json
import os
import subprocess
import tempfile
import unittest
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from test_clients import ACCOUNT, USERS, Server, binary

POLICY = {
    "Version": "kmsgov-data-use/1",
    "Purposes": ["fraud-scoring", "chargeback-review"],
    "Audiences": ["svc:scoring", "svc:archive"],
    "MaxReceiptSeconds": 600,
    "ReshareDepth": 1,
}

SERVER = None
TMP = None


def setUpModule():
    global SERVER, TMP
    TMP = tempfile.TemporaryDirectory()
    SERVER = Server(TMP.name)


def tearDownModule():
    SERVER.stop()
    TMP.cleanup()


def client(user, purpose=None, audience=None):
    key_id, secret = USERS[user]
    kms = boto3.client(
        "kms", endpoint_url=SERVER.url, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )
    raw = {}

    def add_use(request, **_):
        if purpose is not None:
            request.headers["x-kmsgov-purpose"] = purpose
        if audience is not None:
            request.headers["x-kmsgov-audience"] = audience

    def keep_raw(http_response, **_):
        raw["body"] = json.loads(http_response.content or b"{}")

    kms.meta.events.register("before-sign.kms.*", add_use)
    kms.meta.events.register("after-call.kms.*", keep_raw)
    return kms, raw


def kmsgov_call(user, name, body):
    """A signed call of one of kmsgov's own operations."""
    key_id, secret = USERS[user]
    request = AWSRequest(
        method="POST", url=SERVER.url + "/", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/x-amz-json-1.1",
                 "X-Amz-Target": "KmsGov." + name},
    )
    SigV4Auth(Credentials(key_id, secret), "kms", "us-east-1").add_auth(request)
    http = urllib.request.Request(SERVER.url + "/", data=request.body,
                                  headers=dict(request.headers), method="POST")
    try:
        with urllib.request.urlopen(http, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def kmsgov(*args, check=True):
    done = subprocess.run([binary(), *args], capture_output=True, text=True, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"kmsgov {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def error_code(error):
    return error.response["Error"]["Code"]


class Governance(unittest.TestCase):
    def setUp(self):
        self.admin, _ = client("admin")

    def publish(self, policy=POLICY):
        status, out = kmsgov_call("admin", "PublishPolicy", {"Policy": json.dumps(policy)})
        self.assertEqual(status, 200, out)
        return out["PolicyId"]

    def test_a_bound_ciphertext_is_decrypted_only_for_its_purposes(self):
        policy_id = self.publish()
        self.assertEqual(len(policy_id), 64)
        # Publishing the same document again names the same policy.
        self.assertEqual(self.publish(dict(reversed(list(POLICY.items())))), policy_id)
        key = self.admin.create_key()["KeyMetadata"]
        context = {"order": "7", "kmsgov:policy": policy_id}
        blob = self.admin.encrypt(KeyId=key["KeyId"], Plaintext=b"card 4111",
                                  EncryptionContext=context)["CiphertextBlob"]

        # Allowed purpose and audience: plaintext and a receipt.
        allowed, raw = client("alice", purpose="fraud-scoring", audience="svc:scoring")
        out = allowed.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        request_id = out["ResponseMetadata"]["RequestId"]
        self.assertEqual(out["Plaintext"], b"card 4111")
        receipt = raw["body"]["UseReceipt"]
        salt = raw["body"]["UseReceiptSalt"]

        # A forbidden purpose, a forbidden audience, and no purpose at all.
        for purpose, audience in [("marketing", None), ("fraud-scoring", "svc:ads"), (None, None)]:
            refused, raw = client("alice", purpose=purpose, audience=audience)
            with self.assertRaises(ClientError) as caught:
                refused.decrypt(CiphertextBlob=blob, EncryptionContext=context)
            self.assertEqual(error_code(caught.exception), "AccessDeniedException")
            self.assertIn(policy_id, caught.exception.response["Error"]["Message"])
            self.assertNotIn("Plaintext", raw["body"])

        # Stripping the binding from the context does not help.
        stripped = {"order": "7"}
        with self.assertRaises(ClientError) as caught:
            allowed.decrypt(CiphertextBlob=blob, EncryptionContext=stripped)
        self.assertEqual(error_code(caught.exception), "InvalidCiphertextException")

        # The receipt, offline, against the pinned receipt key.
        status, head = kmsgov_call("admin", "GetGovernanceHead", {})
        self.assertEqual(status, 200, head)
        receipt_key = head["ReceiptVerifierKey"]
        plaintext_file = os.path.join(TMP.name, "plaintext")
        with open(plaintext_file, "wb") as f:
            f.write(b"card 4111")
        ok = kmsgov("receipt", "verify", "--receipt", receipt, "--verifier-key", receipt_key,
                    "--purpose", "fraud-scoring", "--audience", "svc:scoring",
                    "--plaintext", plaintext_file, "--salt", salt, "--format", "json")
        claims = json.loads(ok.stdout)
        self.assertEqual(claims["data_policy"], policy_id)
        self.assertEqual(claims["key_id"], key["KeyId"])
        self.assertEqual(claims["purposes"], ["fraud-scoring"])
        self.assertEqual(claims["audiences"], ["svc:scoring"])
        for args in (["--purpose", "marketing", "--audience", "svc:scoring"],
                     ["--purpose", "fraud-scoring", "--audience", "svc:ads"]):
            bad = kmsgov("receipt", "verify", "--receipt", receipt,
                         "--verifier-key", receipt_key, *args, check=False)
            self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        with open(plaintext_file, "wb") as f:
            f.write(b"card 4112")
        bad = kmsgov("receipt", "verify", "--receipt", receipt, "--verifier-key", receipt_key,
                     "--purpose", "fraud-scoring", "--audience", "svc:scoring",
                     "--plaintext", plaintext_file, "--salt", salt, check=False)
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)

        # The decision the receipt names is in the signed audit log.
        data_dir = os.path.join(TMP.name, "data")
        evidence = kmsgov("audit", "prove", "--data-dir", data_dir, "--request-id", request_id)
        evidence_file = os.path.join(TMP.name, "evidence.json")
        with open(evidence_file, "w") as f:
            f.write(evidence.stdout)
        self.assertEqual(json.loads(evidence.stdout)["seq"], claims["audit_index"])
        status, checkpoint = kmsgov_call("admin", "GetCheckpoint", {})
        self.assertEqual(status, 200, checkpoint)
        checked = kmsgov("audit", "check", "--evidence", evidence_file,
                         "--verifier-key", checkpoint["VerifierKey"])
        self.assertIn("Decrypt", checked.stdout)

    def test_a_key_default_policy_binds_every_encryption(self):
        policy_id = self.publish({**POLICY, "Purposes": ["billing"]})
        key = self.admin.create_key()["KeyMetadata"]
        status, out = kmsgov_call("admin", "SetKeyDataPolicy",
                                  {"KeyId": key["KeyId"], "PolicyId": policy_id})
        self.assertEqual((status, out.get("Status")), (200, "Applied"), out)
        blob = self.admin.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
        unaware, _ = client("alice")
        with self.assertRaises(ClientError) as caught:
            unaware.decrypt(CiphertextBlob=blob)
        self.assertEqual(error_code(caught.exception), "AccessDeniedException")
        aware, raw = client("alice", purpose="billing")
        self.assertEqual(aware.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")
        self.assertIn("UseReceipt", raw["body"])
        # A data key comes with a receipt too.
        data_key = aware.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
        self.assertIn("UseReceipt", raw["body"])
        self.assertEqual(len(data_key["Plaintext"]), 32)

    def test_an_unpublished_or_malformed_policy_is_refused(self):
        key = self.admin.create_key()["KeyMetadata"]
        with self.assertRaises(ClientError) as caught:
            self.admin.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                               EncryptionContext={"kmsgov:policy": "ab" * 32})
        self.assertEqual(error_code(caught.exception), "NotFoundException")
        status, out = kmsgov_call("admin", "PublishPolicy",
                                  {"Policy": json.dumps({**POLICY, "Purposes": []})})
        self.assertEqual((status, out["__type"]), (400, "MalformedPolicyDocumentException"), out)
        # alice may not publish: kmsgov:PublishPolicy is not among her actions.
        status, out = kmsgov_call("alice", "PublishPolicy", {"Policy": json.dumps(POLICY)})
        self.assertEqual((status, out["__type"]), (400, "AccessDeniedException"), out)


if __name__ == "__main__":
    unittest.main()
