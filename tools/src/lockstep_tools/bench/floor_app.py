"""The floor's web server: a bare FastAPI JSON endpoint on uvicorn (uvloop, httptools, access
log off), as ``python -m lockstep_tools.bench.floor_app PORT``."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                access_log=False, log_level="warning")
