import zmq, json, time
ctx = zmq.Context(); s = ctx.socket(zmq.DEALER); s.connect("tcp://127.0.0.1:25580")
def burst(reqs):
    t=time.monotonic()
    for r in reqs: s.send(json.dumps(r).encode())
    out=[json.loads(s.recv()) for _ in reqs]
    return time.monotonic()-t, out
t,o = burst([{"op":"get","id":"R999999"} for _ in range(50)]); print("50 gets of unknown id %.3fs"%t, o[0].get("error",{}).get("code"))
t,o = burst([{"op":"get","id":"R000005"} for _ in range(50)]); print("50 gets of known id %.3fs"%t, o[0].get("ok"))
t,o = burst([{"op":"submit","referral":{"ref":"L5","partner":"ocmw-genk","kind":"family_support","postcode":"3600","children":[{"age":5}],"consent":True}} for _ in range(50)]); print("50 conflicting resubmits %.3fs"%t, o[0].get("error",{}).get("code"))
