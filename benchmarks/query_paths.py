"""Query latency of each text path (word, sentence, auto) in process, on the shipped model.

    OMP_NUM_THREADS=1 python benchmarks/query_paths.py

Prints the first query of each path (the word vectors open memory-mapped; the first
sentence loads MiniLM), then medians for known texts (word), new texts and repeated ones
(sentence: the query-encoding cache), and auto on sentences.
"""
import time, numpy as np, torch
torch.set_num_threads(1)
from retrieval.bundle import load_bundle
from retrieval.routing import route_query
t=time.perf_counter(); m=load_bundle(); print(f"load_bundle {time.perf_counter()-t:.2f} s")
words=["reel","calm choir","fast jig flute","solemn organ","string quartet","happy piano","sad violin","lively fiddle"]
sents=["something like a pub session in dublin","music for a funeral in a cathedral","a gentle melody to fall asleep to","an energetic dance for a village wedding","a quiet piece for a rainy afternoon","a hymn sung by a church choir","an old tune from the scottish highlands","a cheerful march for a parade"]
t=time.perf_counter(); route_query(m, words[0], "auto"); print(f"first word query {1000*(time.perf_counter()-t):.0f} ms")
t=time.perf_counter(); route_query(m, sents[0], "auto"); print(f"first sentence query (loads MiniLM) {1000*(time.perf_counter()-t):.0f} ms")
def bench(texts, mode, reps=3):
    out=[]
    for r in range(reps):
        for x in texts:
            t=time.perf_counter(); route_query(m, x + ("" if r==0 else ""), mode); out.append(time.perf_counter()-t)
    return out
w=bench(words,"word"); print(f"word path p50 {1000*np.median(w):.2f} ms")
# uncached sentences: new text each time
fresh=[s+f" {i}" for i in range(3) for s in sents]
s1=[]
for x in fresh:
    t=time.perf_counter(); route_query(m, x, "sentence"); s1.append(time.perf_counter()-t)
print(f"sentence path, new text p50 {1000*np.median(s1):.1f} ms")
s2=[]
for x in fresh:
    t=time.perf_counter(); route_query(m, x, "sentence"); s2.append(time.perf_counter()-t)
print(f"sentence path, repeated text (cached) p50 {1000*np.median(s2):.2f} ms")
a=[]
for x in [s+" again" for s in sents]:
    t=time.perf_counter(); route_query(m, x, "auto"); a.append(time.perf_counter()-t)
print(f"auto path on a sentence, new text p50 {1000*np.median(a):.1f} ms")
