#!/usr/bin/python3
"""Independent re-creation of the parameter SHAPES of the CompVis VQModel (latent-diffusion's
ldm.models.autoencoder.VQModel: Encoder, Decoder, VectorQuantizer2, quant_conv, post_quant_conv)
and of taming's NLayerDiscriminator, used to derive the reference parameter counts of the
thesis's Tables 9 and 10 (and of dmseg's CPU-sized variants).

The module tree uses the reference's attribute names (encoder.down[i].block[j].norm1, ...,
decoder.up[i].upsample.conv, quantize.embedding, discriminator main = Sequential with
BatchNorm2d), so the parts are read off named_parameters() by prefix, not computed by a formula.
No forward pass is needed. Only trainable parameters count (BatchNorm's running statistics are
buffers).
Run: /usr/bin/python3 reference_params.py > reference_params.txt   (Debian python3-torch)
"""
import torch.nn as nn


def norm(ch, groups):
    return nn.GroupNorm(groups, ch, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = norm(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = norm(cout, groups)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)


class AttnBlock(nn.Module):
    def __init__(self, ch, groups):
        super().__init__()
        self.norm = norm(ch, groups)
        self.q = nn.Conv2d(ch, ch, 1)
        self.k = nn.Conv2d(ch, ch, 1)
        self.v = nn.Conv2d(ch, ch, 1)
        self.proj_out = nn.Conv2d(ch, ch, 1)


class Resample(nn.Module):
    def __init__(self, ch, stride):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=stride, padding=0 if stride == 2 else 1)


def mid(ch, groups):
    m = nn.Module()
    m.block_1 = ResnetBlock(ch, ch, groups)
    m.attn_1 = AttnBlock(ch, groups)  # always present, whatever attn_resolutions says
    m.block_2 = ResnetBlock(ch, ch, groups)
    return m


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        ch, mult, g = c["ch"], c["ch_mult"], c["groups"]
        self.conv_in = nn.Conv2d(c["in_channels"], ch, 3, padding=1)
        res, in_mult = c["resolution"], (1,) + tuple(mult)
        self.down = nn.ModuleList()
        for lvl in range(len(mult)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            bin_, bout = ch * in_mult[lvl], ch * mult[lvl]
            for _ in range(c["num_res_blocks"]):
                block.append(ResnetBlock(bin_, bout, g))
                bin_ = bout
                if res in c["attn_resolutions"]:
                    attn.append(AttnBlock(bin_, g))
            d = nn.Module()
            d.block, d.attn = block, attn
            if lvl != len(mult) - 1:
                d.downsample = Resample(bin_, 2)
                res //= 2
            self.down.append(d)
        self.mid = mid(bin_, g)
        self.norm_out = norm(bin_, g)
        self.conv_out = nn.Conv2d(bin_, c["z_channels"], 3, padding=1)  # double_z false


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        ch, mult, g = c["ch"], c["ch_mult"], c["groups"]
        bin_ = ch * mult[-1]
        res = c["resolution"] // 2 ** (len(mult) - 1)
        self.conv_in = nn.Conv2d(c["z_channels"], bin_, 3, padding=1)
        self.mid = mid(bin_, g)
        self.up = nn.ModuleList()
        for lvl in reversed(range(len(mult))):
            block, attn = nn.ModuleList(), nn.ModuleList()
            bout = ch * mult[lvl]
            for _ in range(c["num_res_blocks"] + 1):
                block.append(ResnetBlock(bin_, bout, g))
                bin_ = bout
                if res in c["attn_resolutions"]:
                    attn.append(AttnBlock(bin_, g))
            u = nn.Module()
            u.block, u.attn = block, attn
            if lvl != 0:
                u.upsample = Resample(bin_, 1)
                res *= 2
            self.up.insert(0, u)
        self.norm_out = norm(bin_, g)
        self.conv_out = nn.Conv2d(bin_, c["out_ch"], 3, padding=1)


class Quantize(nn.Module):
    def __init__(self, n_e, e_dim):
        super().__init__()
        self.embedding = nn.Embedding(n_e, e_dim)


class VQModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        self.quantize = Quantize(c["n_embed"], c["embed_dim"])
        self.quant_conv = nn.Conv2d(c["z_channels"], c["embed_dim"], 1)
        self.post_quant_conv = nn.Conv2d(c["embed_dim"], c["z_channels"], 1)


def discriminator(input_nc, ndf=64, n_layers=3):
    seq = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2 ** n, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
    prev, mult = mult, min(2 ** n_layers, 8)
    seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
    seq += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
    return nn.Sequential(*seq)


def part_of(name):
    p = name.split(".")
    if p[0] in ("encoder", "decoder"):
        if p[1] in ("down", "up"):
            return ".".join(p[:3])
        return ".".join(p[:2])
    return p[0]


def vq_parts(model):
    parts = {}
    for name, prm in model.named_parameters():
        k = part_of(name)
        parts[k] = parts.get(k, 0) + prm.numel()
    return parts


def disc_parts(seq):
    parts, conv, last = [], -1, None
    for m in seq:
        n = sum(p.numel() for p in m.parameters())
        if isinstance(m, nn.Conv2d):
            conv += 1
            parts.append((f"discriminator.conv.{conv}", n))
        elif isinstance(m, nn.BatchNorm2d):
            parts.append((f"discriminator.norm.{conv}", n))
    return parts


CONFIGS = [
    ("vqgan-f4-table9", dict(embed_dim=3, n_embed=8192, z_channels=3, resolution=64, in_channels=1, out_ch=1,
                             ch=128, ch_mult=(1, 2, 4), num_res_blocks=2, attn_resolutions=[], groups=32)),
    ("vqgan-f8-table10", dict(embed_dim=4, n_embed=16384, z_channels=4, resolution=64, in_channels=1, out_ch=1,
                              ch=128, ch_mult=(1, 2, 2, 4), num_res_blocks=2, attn_resolutions=[32], groups=32)),
    ("vqgan-f4-cpu", dict(embed_dim=3, n_embed=512, z_channels=3, resolution=64, in_channels=1, out_ch=1,
                          ch=16, ch_mult=(1, 2, 4), num_res_blocks=2, attn_resolutions=[], groups=8)),
    ("vqgan-f8-cpu", dict(embed_dim=4, n_embed=1024, z_channels=4, resolution=64, in_channels=1, out_ch=1,
                          ch=16, ch_mult=(1, 2, 2, 4), num_res_blocks=2, attn_resolutions=[32], groups=8)),
]

if __name__ == "__main__":
    for name, c in CONFIGS:
        m = VQModel(c)
        parts = vq_parts(m)
        for k, n in parts.items():
            print(f"  {k} {n}")
        print(f"{name} params={sum(p.numel() for p in m.parameters())}")
    d = discriminator(1)
    for k, n in disc_parts(d):
        print(f"  {k} {n}")
    print(f"patchgan in_channels=1 ndf=64 n_layers=3 params={sum(p.numel() for p in d.parameters())}")
