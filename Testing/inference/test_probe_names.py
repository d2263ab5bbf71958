"""benchmarks/real_ct_probes.py: a name of probes applied in turn splits between probes only.
(The fifteenth session's '+' split the default probe ``offset_+60`` into 'offset_' and '60',
and the benchmark stopped there.)"""


def test_probe_names_split_between_probes_not_at_signs(probes_benchmark):
    parts = probes_benchmark.probe_parts
    for name in probes_benchmark.PROBES:   # every default probe is one probe
        assert parts(name) == [name]
    assert parts("offset_+60") == ["offset_+60"]
    assert parts("bone_1.25+metal_prosthesis_left") == ["bone_1.25", "metal_prosthesis_left"]
    assert parts("offset_+60+noise_80") == ["offset_+60", "noise_80"]
