#!/usr/bin/python3
"""Independent re-creation of the parameter SHAPES of the CompVis openaimodel UNetModel
(use_spatial_transformer=False, use_scale_shift_norm=False, conv_resample=True, dims=2,
num_classes=None), used to derive the reference parameter count of the thesis's Table 6 U-Net.

It instantiates torch modules with the same layer types and sizes (Conv2d 3x3, Linear,
GroupNorm(32), Conv1d 1x1 for qkv/proj_out) and sums p.numel(); no forward pass is needed.
Run: /usr/bin/python3 reference_params.py   (Debian python3-torch)
"""
import sys
import torch.nn as nn


def resblock(cin, emb, cout):
    m = nn.ModuleDict()
    m["in_norm"] = nn.GroupNorm(32, cin)
    m["in_conv"] = nn.Conv2d(cin, cout, 3, padding=1)
    m["emb"] = nn.Linear(emb, cout)
    m["out_norm"] = nn.GroupNorm(32, cout)
    m["out_conv"] = nn.Conv2d(cout, cout, 3, padding=1)
    if cin != cout:
        m["skip"] = nn.Conv2d(cin, cout, 1)  # 1x1 skip when channel count changes
    return m  # down/up variants add only parameter-free pooling / interpolation


def attention(ch):
    m = nn.ModuleDict()
    m["norm"] = nn.GroupNorm(32, ch)
    m["qkv"] = nn.Conv1d(ch, 3 * ch, 1)
    m["proj_out"] = nn.Conv1d(ch, ch, 1)
    return m


def unet(in_ch, out_ch, mc, mult, nres, attn_ds, resblock_updown=True):
    emb = 4 * mc
    blocks = []  # (name, module)
    blocks.append(("time_embed", nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))))
    blocks.append(("input_blocks.0", nn.Conv2d(in_ch, mc, 3, padding=1)))
    chans = [mc]
    ch, ds = mc, 1
    for level, m in enumerate(mult):
        for _ in range(nres):
            mods = nn.ModuleList([resblock(ch, emb, m * mc)])
            ch = m * mc
            if ds in attn_ds:
                mods.append(attention(ch))
            blocks.append((f"input_blocks.{len(chans)}", mods))
            chans.append(ch)
        if level != len(mult) - 1:
            if resblock_updown:
                blocks.append((f"input_blocks.{len(chans)}", resblock(ch, emb, ch)))
            else:
                blocks.append((f"input_blocks.{len(chans)}", nn.Conv2d(ch, ch, 3, stride=2, padding=1)))
            chans.append(ch)
            ds *= 2
    blocks.append(("middle_block", nn.ModuleList([resblock(ch, emb, ch), attention(ch), resblock(ch, emb, ch)])))
    k = 0
    for level, m in list(enumerate(mult))[::-1]:
        for i in range(nres + 1):
            ich = chans.pop()
            mods = nn.ModuleList([resblock(ch + ich, emb, mc * m)])
            ch = mc * m
            if ds in attn_ds:
                mods.append(attention(ch))
            if level and i == nres:
                if resblock_updown:
                    mods.append(resblock(ch, emb, ch))
                else:
                    mods.append(nn.Conv2d(ch, ch, 3, padding=1))
                ds //= 2
            blocks.append((f"output_blocks.{k}", mods))
            k += 1
    blocks.append(("out", nn.Sequential(nn.GroupNorm(32, ch), nn.SiLU(), nn.Conv2d(mc, out_ch, 3, padding=1))))
    return blocks


def count(blocks):
    return sum(p.numel() for _, b in blocks for p in b.parameters())


if __name__ == "__main__":
    for in_ch in (1, 16, 17):
        b = unet(in_ch, 1, 192, (1, 2, 3, 4), 2, (8, 4, 2))
        if "-v" in sys.argv:
            for name, mod in b:
                print(f"  {name:10s} {sum(p.numel() for p in mod.parameters())}")
        print(f"unet-table6 in_channels={in_ch} out_channels=1 params={count(b)}")
