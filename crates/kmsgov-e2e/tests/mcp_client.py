"""A real MCP client for the `kmsgov mcp` end-to-end test (mcp.rs).

Usage: python3 mcp_client.py KMSGOV ARG... < calls.json

KMSGOV_MCP_ENV, when set, is a JSON object of environment variables for the
server (the SDK passes only a few of its own by default).

Starts `KMSGOV ARG...` as an MCP server over stdio with the Python SDK's
stdio client, initializes the session, lists the tools, then calls each tool
of the JSON list on stdin (`[{"name": ..., "arguments": {...}}, ...]`) in
order. Prints one JSON object: the server's name, the tools as listed, and
for each call either its result or the MCP error it got, all in the
protocol's wire form. Whether the answers are right is for the Rust test to
decide.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client


def wire(model):
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def main():
    command, *args = sys.argv[1:]
    calls = json.load(sys.stdin)
    env = json.loads(os.environ.get("KMSGOV_MCP_ENV", "{}"))
    server = StdioServerParameters(command=command, args=args, env=env or None)
    report = {"calls": []}
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            initialized = await session.initialize()
            report["server"] = initialized.server_info.name
            report["instructions"] = initialized.instructions
            report["tools"] = wire(await session.list_tools())["tools"]
            for call in calls:
                try:
                    result = await session.call_tool(call["name"], call["arguments"])
                    report["calls"].append({"result": wire(result)})
                except MCPError as e:
                    report["calls"].append({"error": {"code": e.code, "message": e.message}})
            # Still answering after the errors: the server did not crash.
            await session.send_ping()
            report["alive"] = True
    json.dump(report, sys.stdout)


asyncio.run(main())
