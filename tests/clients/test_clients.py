"""boto3 and the AWS CLI against a real `kmsgov serve`.

The clients are the oracle for the wire format: they sign with SigV4, send
the KMS JSON 1.1 protocol and parse the answers with the KMS service model,
unchanged. The server runs on a free loopback port with a world of three
users (see WORLD) and a fresh data directory.

Run: KMSGOV_BIN=target/debug/kmsgov python3 -m unittest discover -s tests/clients -v
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT = "111122223333"
USERS = {
    # May do anything.
    "admin": ("AKIACLIENTADMIN00001", "client/admin/secret/000000000000000000000"),
    # May use keys for cryptography and read their metadata.
    "alice": ("AKIACLIENTALICE00001", "client/alice/secret/000000000000000000000"),
    # Has no IAM policy: only key policies and grants let bob in.
    "bob": ("AKIACLIENTBOB0000001", "client/bob/secret/00000000000000000000000"),
}
CRYPTO_ACTIONS = [
    "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
    "kms:DescribeKey", "kms:Sign", "kms:Verify", "kms:GetPublicKey",
]


def world():
    def principal(name, statements):
        entry = {
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "access_keys": [{"id": USERS[name][0], "secret": USERS[name][1]}],
        }
        if statements:
            entry["policies"] = [{"Version": "2012-10-17", "Statement": statements}]
        return entry

    return {
        "name": "client tests",
        "accounts": {ACCOUNT: {}},
        "principals": [
            principal("admin", [{"Effect": "Allow", "Action": ["kms:*", "kmsgov:*"],
                                 "Resource": "*"}]),
            principal("alice", [{"Effect": "Allow", "Action": CRYPTO_ACTIONS, "Resource": "*"}]),
            principal("bob", []),
        ],
    }


def binary():
    path = os.environ.get("KMSGOV_BIN")
    if path:
        return path
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(root, "target", "debug", "kmsgov")


class Server:
    """A `kmsgov serve` process on a free port."""

    def __init__(self, directory):
        self.directory = directory
        world_file = os.path.join(directory, "world.json")
        with open(world_file, "w") as f:
            json.dump(world(), f)
        self.log = open(os.path.join(directory, "server.log"), "wb")
        self.process = subprocess.Popen(
            [binary(), "serve", "--listen", "127.0.0.1:0",
             "--data-dir", os.path.join(directory, "data"), "--world", world_file],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "info"},
        )
        found = {}

        def read():
            for line in self.process.stdout:
                text = line.decode(errors="replace").strip()
                if text.startswith("kmsgov listening on http://"):
                    found["url"] = text.split()[3]

        threading.Thread(target=read, daemon=True).start()
        deadline = time.time() + 30
        while "url" not in found:
            if time.time() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("kmsgov serve did not start:\n" + self.server_log())
            time.sleep(0.02)
        self.url = found["url"]
        urllib.request.urlopen(self.url + "/health", timeout=5).read()

    def server_log(self):
        with open(os.path.join(self.directory, "server.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()


SERVER = None
TMP = None


def setUpModule():
    global SERVER, TMP
    TMP = tempfile.TemporaryDirectory()
    SERVER = Server(TMP.name)


def tearDownModule():
    SERVER.stop()
    TMP.cleanup()


def client(user):
    key_id, secret = USERS[user]
    return boto3.client(
        "kms", endpoint_url=SERVER.url, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def error_code(error):
    return error.response["Error"]["Code"]


class Boto3(unittest.TestCase):
    def setUp(self):
        self.admin = client("admin")
        self.alice = client("alice")
        self.bob = client("bob")

    def new_key(self, **kwargs):
        return self.admin.create_key(**kwargs)["KeyMetadata"]

    def assert_error(self, code, call, *args, **kwargs):
        with self.assertRaises(ClientError) as caught:
            call(*args, **kwargs)
        self.assertEqual(error_code(caught.exception), code, caught.exception.response)
        return caught.exception

    def test_create_describe_and_alias(self):
        key = self.new_key(Description="orders", Tags=[{"TagKey": "team", "TagValue": "a"}])
        self.assertEqual(key["KeyState"], "Enabled")
        self.assertEqual(key["Arn"], f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key['KeyId']}")
        self.admin.create_alias(AliasName="alias/client-orders", TargetKeyId=key["KeyId"])
        described = self.alice.describe_key(KeyId="alias/client-orders")["KeyMetadata"]
        self.assertEqual(described["KeyId"], key["KeyId"])
        self.assertEqual(described["Description"], "orders")
        aliases = self.admin.list_aliases(KeyId=key["KeyId"])["Aliases"]
        self.assertEqual([a["AliasName"] for a in aliases], ["alias/client-orders"])
        self.assert_error("AlreadyExistsException", self.admin.create_alias,
                          AliasName="alias/client-orders", TargetKeyId=key["KeyId"])
        tags = self.admin.list_resource_tags(KeyId=key["KeyId"])["Tags"]
        self.assertEqual(tags, [{"TagKey": "team", "TagValue": "a"}])
        keys = {k["KeyId"] for k in self.admin.list_keys(Limit=1000)["Keys"]}
        self.assertIn(key["KeyId"], keys)

    def test_encrypt_and_decrypt_with_an_encryption_context(self):
        key = self.new_key()
        context = {"order": "1234", "dept": "billing"}
        blob = self.alice.encrypt(KeyId=key["Arn"], Plaintext=b"card data",
                                  EncryptionContext=context)["CiphertextBlob"]
        out = self.alice.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        self.assertEqual(out["Plaintext"], b"card data")
        self.assertEqual(out["KeyId"], key["Arn"])
        self.assertEqual(out["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        self.assert_error("InvalidCiphertextException", self.alice.decrypt,
                          CiphertextBlob=blob, EncryptionContext={"order": "1234"})
        # Contexts that concatenate alike are not interchangeable.
        blob = self.alice.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                                  EncryptionContext={"a": "bc"})["CiphertextBlob"]
        self.assert_error("InvalidCiphertextException", self.alice.decrypt,
                          CiphertextBlob=blob, EncryptionContext={"ab": "c"})
        # ReEncrypt to a second key.
        other = self.new_key()
        moved = self.alice.re_encrypt(
            CiphertextBlob=blob, SourceEncryptionContext={"a": "bc"},
            DestinationKeyId=other["KeyId"])["CiphertextBlob"]
        out = self.alice.decrypt(CiphertextBlob=moved)
        self.assertEqual((out["Plaintext"], out["KeyId"]), (b"x", other["Arn"]))

    def test_data_keys(self):
        key = self.new_key()
        data_key = self.alice.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256",
                                                EncryptionContext={"file": "a"})
        self.assertEqual(len(data_key["Plaintext"]), 32)
        out = self.alice.decrypt(CiphertextBlob=data_key["CiphertextBlob"],
                                 EncryptionContext={"file": "a"})
        self.assertEqual(out["Plaintext"], data_key["Plaintext"])
        without = self.alice.generate_data_key_without_plaintext(KeyId=key["KeyId"],
                                                                 NumberOfBytes=16)
        self.assertNotIn("Plaintext", without)
        self.assertEqual(len(self.alice.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]), 16)
        pair = self.alice.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec="ECC_NIST_P256")
        self.assertTrue(pair["PublicKey"])
        out = self.alice.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])
        self.assertEqual(out["Plaintext"], pair["PrivateKeyPlaintext"])
        self.assertEqual(len(self.admin.generate_random(NumberOfBytes=64)["Plaintext"]), 64)

    def test_sign_and_verify(self):
        for spec, algorithm in [("ECC_NIST_P256", "ECDSA_SHA_256"),
                                ("RSA_2048", "RSASSA_PSS_SHA_256")]:
            key = self.new_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")
            signature = self.alice.sign(KeyId=key["KeyId"], Message=b"invoice 7",
                                        SigningAlgorithm=algorithm)["Signature"]
            self.assertTrue(self.alice.verify(KeyId=key["KeyId"], Message=b"invoice 7",
                                              Signature=signature,
                                              SigningAlgorithm=algorithm)["SignatureValid"])
            self.assert_error("KMSInvalidSignatureException", self.alice.verify,
                              KeyId=key["KeyId"], Message=b"invoice 8", Signature=signature,
                              SigningAlgorithm=algorithm)
            public = self.alice.get_public_key(KeyId=key["KeyId"])
            self.assertEqual(public["KeySpec"], spec)
            self.assertIn(algorithm, public["SigningAlgorithms"])
            # A symmetric operation on a signing key is refused.
            self.assert_error("InvalidKeyUsageException", self.alice.encrypt,
                              KeyId=key["KeyId"], Plaintext=b"x")

    def test_grants_let_a_principal_in_until_retired_or_revoked(self):
        key = self.new_key()
        blob = self.admin.encrypt(KeyId=key["KeyId"], Plaintext=b"shared")["CiphertextBlob"]
        self.assert_error("AccessDeniedException", self.bob.decrypt, CiphertextBlob=blob)
        bob_arn = f"arn:aws:iam::{ACCOUNT}:user/bob"
        grant = self.admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=bob_arn,
                                        RetiringPrincipal=bob_arn, Operations=["Decrypt"])
        self.assertEqual(self.bob.decrypt(CiphertextBlob=blob)["Plaintext"], b"shared")
        # The grant allows Decrypt only.
        self.assert_error("AccessDeniedException", self.bob.encrypt,
                          KeyId=key["KeyId"], Plaintext=b"x")
        listed = self.admin.list_grants(KeyId=key["KeyId"])["Grants"]
        self.assertEqual([g["GrantId"] for g in listed], [grant["GrantId"]])
        self.bob.retire_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])
        self.assert_error("AccessDeniedException", self.bob.decrypt, CiphertextBlob=blob)
        grant = self.admin.create_grant(KeyId=key["KeyId"], GranteePrincipal=bob_arn,
                                        Operations=["Decrypt"])
        self.assertEqual(self.bob.decrypt(CiphertextBlob=blob)["Plaintext"], b"shared")
        self.admin.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
        self.assert_error("AccessDeniedException", self.bob.decrypt, CiphertextBlob=blob)

    def test_a_key_policy_change_takes_effect_immediately(self):
        key = self.new_key()
        self.alice.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
        policy = json.loads(self.admin.get_key_policy(KeyId=key["KeyId"],
                                                      PolicyName="default")["Policy"])
        policy["Statement"].append({
            "Sid": "NoAlice", "Effect": "Deny", "Resource": "*", "Action": "kms:Encrypt",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
        })
        self.admin.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                                  Policy=json.dumps(policy))
        error = self.assert_error("AccessDeniedException", self.alice.encrypt,
                                  KeyId=key["KeyId"], Plaintext=b"x")
        self.assertIn("explicit deny in a resource-based policy",
                      error.response["Error"]["Message"])
        self.assertEqual(self.admin.list_key_policies(KeyId=key["KeyId"])["PolicyNames"],
                         ["default"])
        # bob, with no IAM policy, gets in once the key policy names him.
        self.assert_error("AccessDeniedException", self.bob.describe_key, KeyId=key["KeyId"])
        policy["Statement"].append({
            "Sid": "Bob", "Effect": "Allow", "Resource": "*", "Action": "kms:DescribeKey",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"},
        })
        self.admin.put_key_policy(KeyId=key["KeyId"], Policy=json.dumps(policy))
        self.assertEqual(self.bob.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"],
                         key["KeyId"])

    def test_disable_enable_and_schedule_deletion(self):
        key = self.new_key()
        blob = self.alice.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
        self.admin.disable_key(KeyId=key["KeyId"])
        self.assert_error("DisabledException", self.alice.decrypt, CiphertextBlob=blob)
        self.admin.enable_key(KeyId=key["KeyId"])
        self.assertEqual(self.alice.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")
        scheduled = self.admin.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
        self.assertEqual(scheduled["KeyState"], "PendingDeletion")
        self.assertEqual(scheduled["PendingWindowInDays"], 7)
        self.assert_error("KMSInvalidStateException", self.alice.decrypt, CiphertextBlob=blob)
        self.admin.cancel_key_deletion(KeyId=key["KeyId"])
        self.assertEqual(self.admin.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"],
                         "Disabled")
        self.assert_error("ValidationException", self.admin.schedule_key_deletion,
                          KeyId=key["KeyId"], PendingWindowInDays=3)

    def test_rotation(self):
        key = self.new_key()
        old = self.alice.encrypt(KeyId=key["KeyId"], Plaintext=b"v1")["CiphertextBlob"]
        self.admin.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
        status = self.admin.get_key_rotation_status(KeyId=key["KeyId"])
        self.assertTrue(status["KeyRotationEnabled"])
        self.assertEqual(status["RotationPeriodInDays"], 90)
        self.admin.rotate_key_on_demand(KeyId=key["KeyId"])
        rotations = self.admin.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
        self.assertEqual([r["RotationType"] for r in rotations], ["ON_DEMAND"])
        self.assertEqual(self.alice.decrypt(CiphertextBlob=old)["Plaintext"], b"v1")

    def test_unknown_keys_and_bad_input_get_aws_errors(self):
        self.assert_error("NotFoundException", self.admin.describe_key,
                          KeyId="1234abcd-12ab-34cd-56ef-1234567890ab")
        self.assert_error("NotFoundException", self.admin.describe_key, KeyId="alias/none")
        self.assert_error("ValidationException", self.admin.generate_random, NumberOfBytes=2048)
        self.assert_error("InvalidCiphertextException", self.admin.decrypt,
                          CiphertextBlob=b"not a ciphertext at all")

    def test_signature_checks(self):
        wrong = boto3.client(
            "kms", endpoint_url=SERVER.url, region_name="us-east-1",
            aws_access_key_id=USERS["admin"][0], aws_secret_access_key="wrong",
            config=Config(retries={"max_attempts": 1}))
        self.assert_error("InvalidSignatureException", wrong.list_keys)
        unknown = boto3.client(
            "kms", endpoint_url=SERVER.url, region_name="us-east-1",
            aws_access_key_id="AKIANOSUCHKEY0000001", aws_secret_access_key="x",
            config=Config(retries={"max_attempts": 1}))
        self.assert_error("UnrecognizedClientException", unknown.list_keys)


class AwsCli(unittest.TestCase):
    """The AWS CLI, as a user would type it."""

    def aws(self, user, *args, check=True):
        key_id, secret = USERS[user]
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_MAX_ATTEMPTS": "1",
        }
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        done = subprocess.run(
            [sys.executable, "-m", "awscli", "kms", *args,
             "--endpoint-url", SERVER.url, "--output", "json"],
            capture_output=True, text=True, env=env, timeout=120,
        )
        if check and done.returncode != 0:
            self.fail(f"aws kms {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done

    def json(self, user, *args):
        return json.loads(self.aws(user, *args).stdout)

    def test_the_main_flow(self):
        with tempfile.TemporaryDirectory() as tmp:
            key = self.json("admin", "create-key", "--description", "cli")["KeyMetadata"]
            self.aws("admin", "create-alias", "--alias-name", "alias/cli-flow",
                     "--target-key-id", key["KeyId"])
            plaintext = os.path.join(tmp, "plain")
            with open(plaintext, "wb") as f:
                f.write(b"hello from the aws cli")
            encrypted = self.json("alice", "encrypt", "--key-id", "alias/cli-flow",
                                  "--plaintext", f"fileb://{plaintext}",
                                  "--encryption-context", "purpose=test")
            self.assertEqual(encrypted["KeyId"], key["Arn"])
            blob = os.path.join(tmp, "blob")
            with open(blob, "wb") as f:
                f.write(base64.b64decode(encrypted["CiphertextBlob"]))
            decrypted = self.json("alice", "decrypt", "--ciphertext-blob", f"fileb://{blob}",
                                  "--encryption-context", "purpose=test")
            self.assertEqual(base64.b64decode(decrypted["Plaintext"]), b"hello from the aws cli")
            # The wrong context, and a user without permissions, are refused.
            denied = self.aws("alice", "decrypt", "--ciphertext-blob", f"fileb://{blob}",
                              check=False)
            self.assertNotEqual(denied.returncode, 0)
            self.assertIn("InvalidCiphertextException", denied.stderr)
            denied = self.aws("bob", "decrypt", "--ciphertext-blob", f"fileb://{blob}",
                              "--encryption-context", "purpose=test", check=False)
            self.assertNotEqual(denied.returncode, 0)
            self.assertIn("AccessDeniedException", denied.stderr)

            data_key = self.json("alice", "generate-data-key", "--key-id", key["KeyId"],
                                 "--key-spec", "AES_256")
            self.assertEqual(len(base64.b64decode(data_key["Plaintext"])), 32)

            signing = self.json("admin", "create-key", "--key-spec", "ECC_NIST_P256",
                                "--key-usage", "SIGN_VERIFY")["KeyMetadata"]
            signed = self.json("alice", "sign", "--key-id", signing["KeyId"],
                               "--message", f"fileb://{plaintext}",
                               "--signing-algorithm", "ECDSA_SHA_256")
            signature = os.path.join(tmp, "signature")
            with open(signature, "wb") as f:
                f.write(base64.b64decode(signed["Signature"]))
            verified = self.json("alice", "verify", "--key-id", signing["KeyId"],
                                 "--message", f"fileb://{plaintext}",
                                 "--signature", f"fileb://{signature}",
                                 "--signing-algorithm", "ECDSA_SHA_256")
            self.assertTrue(verified["SignatureValid"])

            bob_arn = f"arn:aws:iam::{ACCOUNT}:user/bob"
            grant = self.json("admin", "create-grant", "--key-id", key["KeyId"],
                              "--grantee-principal", bob_arn, "--operations", "Decrypt")
            decrypted = self.json("bob", "decrypt", "--ciphertext-blob", f"fileb://{blob}",
                                  "--encryption-context", "purpose=test")
            self.assertEqual(base64.b64decode(decrypted["Plaintext"]), b"hello from the aws cli")
            self.aws("admin", "revoke-grant", "--key-id", key["KeyId"],
                     "--grant-id", grant["GrantId"])

            aliases = self.json("admin", "list-aliases", "--key-id", key["KeyId"])["Aliases"]
            self.assertEqual([a["AliasName"] for a in aliases], ["alias/cli-flow"])
            self.aws("admin", "disable-key", "--key-id", key["KeyId"])
            self.assertEqual(
                self.json("admin", "describe-key", "--key-id", key["KeyId"])["KeyMetadata"]["KeyState"],
                "Disabled")
            scheduled = self.json("admin", "schedule-key-deletion", "--key-id", key["KeyId"],
                                  "--pending-window-in-days", "7")
            self.assertEqual(scheduled["KeyState"], "PendingDeletion")


if __name__ == "__main__":
    unittest.main()
